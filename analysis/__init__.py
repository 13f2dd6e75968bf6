"""Analysis of a finished run: lexical and semantic diversity, difficulty (PVI), labels and
self-correction, named-entity bias, side by side with a reference dataset, as metrics.json and one
self-contained report.html. `targen analyze RUN_DIR` runs it; `targen run` runs it at the end."""
