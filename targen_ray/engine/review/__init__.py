"""Human review of a finished run: a fixed stratified sample of its final rows (sample.py), the
reviewers' decisions (decisions.py: written append-only in the run, or read from another tool's
export), and the audit they give: label accuracy with an interval, and what it says of the judges."""
