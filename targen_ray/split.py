"""Stage 6: pick exactly the quota of rows per (split, label) and write them in SuperGLUE field names."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.compute as pc

from .job import Job
from .plan import Quotas
from .spec import SPLITS
from .steps import stable_id
from .store import RunDir

# Lineage kept next to the SuperGLUE fields: (output column, column in 04_corrected)
LINEAGE = [
    ("id", "id"),
    ("context_id", "context_id"),
    ("seed_id", "seed_id"),
    ("target_label", "target_label"),
    ("initial_label", "initial_label"),
    ("final_label", "final_label"),
    ("corrected", "corrected"),
    ("endpoint", "generate_endpoint"),
    ("model", "generate_model"),
    ("judge_endpoint", "correct_endpoint"),
    ("judge_model", "correct_model"),
    ("generate_input_tokens", "generate_input_tokens"),
    ("generate_output_tokens", "generate_output_tokens"),
    ("correct_input_tokens", "correct_input_tokens"),
    ("correct_output_tokens", "correct_output_tokens"),
]


def choose(rows: pa.Table, quotas: Quotas) -> pa.Array:
    """Mask of the rows that fill each quota: earliest round first, then lowest id (deterministic)."""
    order = pc.sort_indices(rows, [("round", "ascending"), ("id", "ascending")]).to_pylist()
    keys = list(zip(rows["split"].to_pylist(), rows["final_label"].to_pylist(), strict=True))
    left, mask = dict(quotas), [False] * rows.num_rows
    for i in order:
        if left.get(keys[i], 0) > 0:
            left[keys[i]] -= 1
            mask[i] = True
    return pa.array(mask)


def records(job: Job, rows: pa.Table) -> pa.Table:
    """The split's table: SuperGLUE fields from each instance, idx 0..n-1 in a stable shuffled order."""
    order = sorted(range(rows.num_rows), key=lambda i: stable_id(rows["id"][i].as_py(), "idx"))
    rows = rows.take(order)
    fields = [json.loads(s) for s in rows["instance"].to_pylist()]
    schema = job.task.record_schema
    cols = {}
    for f in schema:
        if f.name == "idx":
            make = job.task.make_idx
            cols["idx"] = make(rows) if make else pa.array(range(rows.num_rows), f.type)
        elif f.name == "label":
            cols["label"] = rows["final_label"].cast(f.type)
        else:
            cols[f.name] = pa.array([x[f.name] for x in fields], f.type)
    for out, src in LINEAGE:
        cols[out] = rows[src]
    return pa.table(cols)


def write(job: Job, run: RunDir, quotas: Quotas) -> None:
    """Replace final/ and surplus/ with the selection from everything corrected so far (idempotent)."""
    rows = run.read("04_corrected")
    if rows is None:
        return
    mask = choose(rows, quotas)
    surplus, chosen = rows.filter(pc.invert(mask)), rows.filter(mask)
    run.replace("surplus", {"": surplus} if surplus.num_rows else {})
    splits = {s: chosen.filter(pc.equal(chosen["split"], s)) for s in SPLITS}
    run.replace("final", {s: records(job, t) for s, t in splits.items() if t.num_rows})
