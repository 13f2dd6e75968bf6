"""Reviewers' decisions: what a person said of a row (its right label or answer, defects, a note).

Read from the run's own decision files (`review/decisions/<reviewer>.jsonl`, one JSON object a line,
appended as each decision is made; a line `{"id": ..., "undo": true}` takes back that reviewer's last
decision on the row) or from another tool's: a CSV or JSONL of `id,label[,defects]` (defects joined by
`;`), or Label Studio's JSON export (the first `choices` of each task's first annotation). The last
decision of a reviewer on a row stands. Every id must be a final row and every label a task label.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from ...errors import SpecError
from ..store import RunDir

DEFECTS = ("wrong label", "off task", "not fluent", "duplicate", "unsafe")


def _records(name: str, text: str) -> list[dict]:
    """The decision records of one file, by its format."""
    if name.endswith(".csv"):
        return [dict(r) for r in csv.DictReader(io.StringIO(text))]
    if name.endswith(".json"):  # Label Studio's export: tasks with their annotations
        out = []
        for t in json.loads(text):
            for a in t.get("annotations", [])[:1]:
                choices = [r["value"]["choices"][0] for r in a.get("result", []) if r.get("type") == "choices"]
                if choices:
                    out.append({"id": t["data"]["id"], "label": choices[0]})
        return out
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _reviewer(record: dict, name: str) -> str:
    return str(record.get("reviewer") or Path(name).stem)


def read(run: RunDir, files: list[str], ids: set[str], labels: list[str]) -> dict[str, dict[str, dict]]:
    """Decisions by reviewer, then row id: {"label": index or None, "answer", "defects": [...], "note"}."""
    sources = [(p, run.read_text(p)) for p in run.files(run.review_decisions())]
    sources += [(f, Path(f).read_text()) for f in files]
    out: dict[str, dict[str, dict]] = {}
    for name, text in sources:
        try:
            records = _records(name, text)
        except (ValueError, KeyError, TypeError) as e:
            raise SpecError(f"{name}: not a decisions file ({type(e).__name__}: {e})") from None
        for n, r in enumerate(records, 1):
            mine = out.setdefault(_reviewer(r, name), {})
            row = str(r.get("id", ""))
            if row not in ids:
                raise SpecError(f"{name}: decision {n}: id {row!r} is not a final row of {run}")
            if r.get("undo"):
                mine.pop(row, None)
                continue
            label = r.get("label")
            if label not in (None, "") and label not in labels:
                raise SpecError(f"{name}: decision {n}: label {label!r} is not one of {labels}")
            defects = r.get("defects") or []
            defects = [d.strip() for d in defects.split(";")] if isinstance(defects, str) else list(defects)
            mine.pop(row, None)  # the last decision stands, in the order it was made
            mine[row] = {
                "label": labels.index(label) if label not in (None, "") else None,
                "answer": r.get("answer"),
                "defects": [d for d in defects if d],
                "note": r.get("note"),
            }
    return out
