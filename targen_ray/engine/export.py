"""`targen export --format superglue`: the final splits in the original SuperGLUE JSONL layout, so the
official SuperGLUE loaders and evaluation scripts read them unchanged."""

from __future__ import annotations

import json

from ..config import SPLITS
from .store import RunDir
from .tasks import Task

# SuperGLUE's own file names per split (a task may name its one file: the diagnostics' AX-b.jsonl).
FILES = {"train": "train.jsonl", "validation": "val.jsonl", "test": "test.jsonl"}


def superglue_line(task: Task, record: dict) -> dict:
    """One record in SuperGLUE's JSONL layout; a task without its own layout keeps its fields and
    writes the label as its name (e.g. "entailment"), as the original files do."""
    if task.to_superglue is not None:
        return task.to_superglue(record)
    line = {k: v for k, v in record.items() if k in task.record_schema.names}
    if "label" in line:
        line["label"] = task.label_names[line["label"]]
    return line


def export_superglue(task: Task, run: RunDir) -> dict[str, int]:
    """Write `<file>.jsonl` per split into the run directory's export folder, a record batch at a time;
    rows per file."""
    written = {}
    for split in SPLITS:
        parts = run.parts(run.final(split))
        if not parts:
            continue
        name = task.jsonl_file or FILES[split]
        lines = 0

        def write(path: str, split=split) -> None:
            nonlocal lines
            with run.fs.open_output_stream(path) as f:
                for table in run.iter_parts(run.final(split)):
                    for batch in table.to_batches(max_chunksize=4096):
                        for record in batch.to_pylist():
                            f.write((json.dumps(superglue_line(task, record), ensure_ascii=False) + "\n").encode())
                            lines += 1

        run.write_file(f"{run.superglue()}/{name}", write)
        written[name] = lines
    return written
