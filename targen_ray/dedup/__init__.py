"""Stage 5: exact and near-duplicate filtering (work in progress, issue 6)."""
