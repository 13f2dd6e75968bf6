"""Stage 6: pick exactly the quota of rows per (split, label) and write them in SuperGLUE field names."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..config import SPLITS
from .ids import stable_id
from .job import Job
from .plan import Quotas
from .store import RunDir, release_memory

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


RECORDS_AT_ONCE = 2048


def choose(keys: pa.Table, quotas: Quotas) -> np.ndarray:
    """Mask of the rows that fill each quota: earliest round first, then lowest id (deterministic).

    Vectorised over the key columns only, so a full-size stage is never a list of Python rows.
    """
    order = pc.sort_indices(
        keys, [("split", "ascending"), ("final_label", "ascending"), ("round", "ascending"), ("id", "ascending")]
    ).to_numpy()
    split = pc.dictionary_encode(keys["split"].take(order).combine_chunks())
    codes, label = split.indices.to_numpy(), keys["final_label"].take(order).to_numpy()
    n = len(order)
    starts = np.r_[True, (codes[1:] != codes[:-1]) | (label[1:] != label[:-1])] if n else np.array([], bool)
    rank = np.arange(n) - np.maximum.accumulate(np.where(starts, np.arange(n), 0))
    names = split.dictionary.to_pylist()
    lookup = np.zeros((len(names), int(label.max(initial=0)) + 1), int)
    for (name, lbl), q in quotas.items():
        if name in names and lbl < lookup.shape[1]:
            lookup[names.index(name), lbl] = q
    quota = lookup[codes, label]
    mask = np.zeros(n, bool)
    mask[order[rank < quota]] = True
    return mask


def records(job: Job, rows: pa.Table, ids: pa.Array, idx: pa.Array) -> pa.Table:
    """Final records for some rows of one split: SuperGLUE fields from each instance, then lineage.

    `ids` is the whole split in idx order and `idx` its idx column (numbers 0..n-1 unless the task makes
    its own; unused by a task without one); `__pos` is the row's place in that order.
    """
    pos = pc.index_in(rows["id"], ids)
    fields = [json.loads(s) for s in rows["instance"].to_pylist()]
    cols, task = {}, job.task
    for f in task.record_schema:
        if f.name == "idx":
            cols["idx"] = idx.take(pos)
        elif f.name == "label":
            cols["label"] = rows["final_label"].cast(f.type)
        else:
            cols[f.name] = pa.array([x[f.name] for x in fields], f.type)
    for out, src in LINEAGE:
        cols[task.lineage_name(out)] = rows[src]
    if "judges" in rows.column_names:  # a panel's answers, each judge's label and rationale
        cols[task.lineage_name("judges")] = rows["judges"]
    return pa.table({**cols, "__pos": pos})


def write(job: Job, run: RunDir, quotas: Quotas, dropped: pa.ChunkedArray) -> None:
    """Replace final/ and surplus/ with the selection from everything corrected so far and not
    `dropped` by stage 5 (idempotent).

    Quotas are chosen on the key columns; rows are then streamed, a batch at a time, into record
    files (each in idx order), so the driver never holds a split.
    """
    keys = run.read(run.stage_dir("correct"), columns=["id", "split", "final_label", "round", "seed_id"])
    if keys is None:
        return
    dropped = pa.chunked_array(dropped, pa.string()).combine_chunks()
    keys = keys.filter(pc.invert(pc.is_in(keys["id"], dropped)))
    chosen = keys.filter(choose(keys, quotas))
    order = pa.array([stable_id(i, "idx") for i in chosen["id"].to_pylist()], pa.string())  # a stable shuffle
    chosen = chosen.append_column("order", order)
    index = {}
    for split in SPLITS:
        ranked = chosen.filter(pc.equal(chosen["split"], split)).sort_by("order")
        if ranked.num_rows:
            make = job.task.make_idx
            idx = make(ranked) if make else pa.array(range(ranked.num_rows), pa.int32())
            index[split] = (ranked["id"], idx)
    final, surplus = run.rewrite(run.final()), run.rewrite(run.surplus())
    for part in run.iter_parts(run.stage_dir("correct")):
        for batch in part.to_batches(max_chunksize=RECORDS_AT_ONCE):  # bounds what is held at once
            batch = pa.Table.from_batches([batch])
            taken = pc.is_in(batch["id"], chosen["id"])
            spare = pc.invert(pc.or_(taken, pc.is_in(batch["id"], dropped)))  # dropped rows stay in 05_deduped
            surplus.write("", batch.filter(spare))
            for split, (ids, idx) in index.items():
                rows = batch.filter(pc.and_(taken, pc.equal(batch["split"], split)))
                if rows.num_rows:
                    final.write(split, records(job, rows, ids, idx).sort_by("__pos").drop_columns(["__pos"]))
    final.commit()
    surplus.commit()
    release_memory()


def sample(run: RunDir, task, n: int = 3, width: int = 100) -> list[str]:
    """The first `n` final rows (train first) as one line each, the task's fields cut to `width`."""
    out: list[str] = []
    for split in SPLITS:
        for table in run.iter_parts(run.final(split), columns=task.record_schema.names):
            for r in table.slice(0, n - len(out)).to_pylist():
                r = {k: v if len(str(v)) <= width else str(v)[: width - 3] + "..." for k, v in r.items()}
                out.append(f"{split}: {json.dumps(r, ensure_ascii=False)}")
            if len(out) >= n:
                return out
    return out
