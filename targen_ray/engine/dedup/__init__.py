"""Stage 5: exact and near-duplicate filtering and decontamination (entry points in `decision`)."""
