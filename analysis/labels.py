"""Labels per split, and what self-correction did: target (asked for in step 3) vs initial (the label
step 3 wrote) vs final (after step 4's judge), over every row stage 4 kept, not just the final splits."""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa

from targen_ray.engine.store import RunDir

PAIRS = (("target", "initial"), ("initial", "final"), ("target", "final"))


def per_split(frame: pl.LazyFrame, names: list[str]) -> dict[str, dict[str, int]]:
    """{split: {label name: rows}}; unlabelled rows (a reference's test split) count under "unlabelled"."""
    out: dict[str, dict[str, int]] = {}
    for split, label, n in frame.group_by("split", "label").len().sort("split", "label").collect().iter_rows():
        out.setdefault(split, {})[names[label] if label is not None else "unlabelled"] = n
    return out


def confusion(a: np.ndarray, b: np.ndarray, k: int) -> list[list[int]]:
    """Rows of `a`'s label, columns of `b`'s."""
    m = np.zeros((k, k), int)
    np.add.at(m, (a, b), 1)
    return m.tolist()


def self_correction(run: RunDir, names: list[str]) -> dict:
    cols = ["target_label", "initial_label", "final_label"]
    parts = list(run.iter_parts(run.stage_dir("correct"), columns=cols))
    if not parts:
        return {"rows": 0}
    t = pa.concat_tables(parts)
    labels = {c.removesuffix("_label"): t[c].to_numpy() for c in cols}
    n, k = t.num_rows, len(names)
    return {
        "rows": n,
        "labels": names,
        "confusion": {f"{a}_vs_{b}": confusion(labels[a], labels[b], k) for a, b in PAIRS},
        "flip_rate": round(float((labels["initial"] != labels["final"]).mean()), 4) if n else 0.0,
        "off_target_rate": round(float((labels["target"] != labels["final"]).mean()), 4) if n else 0.0,
    }
