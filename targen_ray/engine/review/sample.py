"""The rows a person reviews: a stratified random sample of the final splits, fixed by a seed stored in
the run (the same arguments give the same sample every time), and its export for Label Studio or a CSV."""

from __future__ import annotations

import csv
import io
import json
import math
import secrets

from ...config import SPLITS
from ...errors import SpecError
from ..ids import stable_id
from ..store import RUN_FILE, RunDir
from ..tasks import Task, recorded_task


def task_of(run: RunDir) -> Task:
    recorded = run.read_json(RUN_FILE)
    if recorded is None or not run.files(run.final(), recursive=True):
        raise SpecError(f"{run}: no finished run here (no {RUN_FILE} or no {run.final()}/)")
    return recorded_task(recorded)


def final_rows(run: RunDir, task: Task) -> list[dict]:
    """Every final row with its split, its task fields and the lineage a reviewer or audit reads."""
    lineage = [task.lineage_name(c) for c in ("id", "final_label", "initial_label", "judge_endpoint", "judges")]
    rows = []
    for split in SPLITS:
        for table in run.iter_parts(run.final(split)):
            keep = [c for c in [*task.record_schema.names, *lineage] if c in table.column_names]
            rows += [{**r, "split": split} for r in table.select(keep).to_pylist()]
    return rows


def answer_text(answer) -> str:
    """A span field's text: a string, a struct's `text` (SQuAD's: a list of them), or a list's first."""
    if isinstance(answer, dict):
        return answer_text(answer.get("text"))
    if isinstance(answer, list):
        return answer_text(answer[0]) if answer else ""
    return "" if answer is None else str(answer)


def seed(run: RunDir) -> str:
    """The run's review seed: drawn once, then read back."""
    stored = run.read_json(run.review_seed_file())
    if stored is None:
        stored = {"seed": secrets.token_hex(8)}
        run.write_json(run.review_seed_file(), stored)
    return stored["seed"]


def key_of(task: Task) -> str:
    """The final rows' id column (lineage: `_id` where the task has a field named id)."""
    return task.lineage_name("id")


def sample(run: RunDir, n: int | None = 100, per_label: int | None = None) -> tuple[Task, list[dict]]:
    """Up to `per_label` rows of each final label (default: `n` spread evenly), at most `n` in all, each
    label's rows in the seed's random order."""
    task = task_of(run)
    rows, key, ident = final_rows(run, task), seed(run), key_of(task)
    by_label: dict[int, list[dict]] = {}
    for r in sorted(rows, key=lambda r: stable_id(key, r[ident])):
        by_label.setdefault(r[task.lineage_name("final_label")], []).append(r)
    k = per_label or math.ceil((n or len(rows)) / max(len(by_label), 1))
    chosen = [r for label in sorted(by_label) for r in by_label[label][:k]]
    chosen.sort(key=lambda r: stable_id(key, "order", r[ident]))  # labels interleaved, as a reviewer meets them
    return task, chosen[:n] if n else chosen


def export(run: RunDir, fmt: str, n: int | None, per_label: int | None) -> tuple[str, int]:
    """The sample as Label Studio's JSON import (one task per row, the final label as a prediction) or
    as CSV; returns (the file's name in the run, rows)."""
    task, rows = sample(run, n, per_label)
    labels, final = task.label_names, task.lineage_name("final_label")
    fields = [f for f in task.record_schema.names if f not in ("idx", "label")]
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["id", "split", *fields, "final_label", "initial_label"])
        initial = task.lineage_name("initial_label")
        for r in rows:
            cells = [json.dumps(r[f], ensure_ascii=False) if not isinstance(r[f], str) else r[f] for f in fields]
            writer.writerow([r[key_of(task)], r["split"], *cells, labels[r[final]], labels[r[initial]]])
        body, name = out.getvalue(), run.review_export("csv")
    else:
        tasks = [
            {
                "data": {"id": r[key_of(task)], "split": r["split"], **{f: r[f] for f in fields}},
                "predictions": [
                    {
                        "model_version": "targen final label",
                        "result": [
                            {
                                "from_name": "label",
                                "to_name": fields[0],
                                "type": "choices",
                                "value": {"choices": [labels[r[final]]]},
                            }
                        ],
                    }
                ],
            }
            for r in rows
        ]
        body, name = json.dumps(tasks, ensure_ascii=False, indent=1), run.review_export("labelstudio")
    run.write_bytes(name, body.encode())
    return name, len(rows)
