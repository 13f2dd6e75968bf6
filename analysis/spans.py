"""The span baseline of `targen evaluate`, for tasks whose answer is one of a row's candidate entities
(ReCoRD's shape: a passage, a cloze query, `entities`, `answers`): logistic regression over each
candidate's features, trained on which candidates are answers; per row, the best-scoring candidate.
Scored as ReCoRD is: exact match and token F1, each the best over the row's gold answers."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
from sklearn.linear_model import LogisticRegression

from targen_ray.dedup.reference import field_text, read_rows
from targen_ray.store import RunDir
from targen_ray.tasks import Task

from . import dataset, scores

FAMILY = (
    "logistic regression over each candidate entity's features (query words near it in the passage, how "
    "often and how early it occurs, whether the query already names it); the best candidate per row"
)
COLUMNS = ("passage", "query", "entities", "answers")
WINDOW = 12  # passage words either side of a candidate's occurrence that count as near it
TRAIN_ROWS = 20_000  # rows a model is fitted on at most (seeded sample): the features are Python, per candidate
_WORD = re.compile(r"\w+")


def applies(task: Task) -> bool:
    names = task.record_schema.names
    lists = all(n in names and task.record_schema.field(n).type == pa.list_(pa.string()) for n in COLUMNS[2:])
    return lists and all(n in names for n in COLUMNS[:2])


def evaluate(run: RunDir, task: Task, reference: list[Path], pairings: dict[str, list[str]]) -> list[dict]:
    """Every pairing (train side -> the sides it is scored on) the run and reference allow."""
    sides = {f"synthetic {s}": _from_run(run, s) for s in ("train", "test")}
    if reference:
        rows = [dict(r, split=r.get("split") or p.stem) for p in reference for r in read_rows(p, list(COLUMNS))]
        sides["reference train"] = [r for r in rows if r["split"] == "train"]
        sides["reference held-out"] = [r for r in rows if r["split"] != "train"]
    sides = {k: v for k, v in sides.items() if v}
    wanted = [(a, b) for a, tested in pairings.items() for b in tested if a in sides and b in sides]
    return [_pair(a, sides[a], b, sides[b]) for a, b in wanted]


def _from_run(run: RunDir, split: str) -> list[dict]:
    paths = run.files(run.final(split))
    return dataset.scan(run, paths).select(COLUMNS).collect().to_dicts() if paths else []


def _pair(train_name: str, train: list[dict], test_name: str, test: list[dict]) -> dict:
    out = {"train": train_name, "test": test_name, "train_rows": len(train), "test_rows": len(test)}
    if len(train) > TRAIN_ROWS:
        train = [train[i] for i in np.sort(np.random.default_rng(0).choice(len(train), TRAIN_ROWS, replace=False))]
    x, y = [], []
    for row in train:
        for candidate, features in _candidates(row):
            x.append(features)
            y.append(candidate in row["answers"])
    # always the passage's first candidate: what a model that learnt nothing would answer
    first = scores.answer_scores([(r["entities"] or [""])[0] for r in test], [r["answers"] for r in test])
    out["chance"] = round(float(first["em"].mean()), 4)
    if len(set(y)) < 2:
        return {**out, "available": False, "reason": f"{train_name}'s candidates are all answers or all not"}
    model = LogisticRegression(C=1.0, max_iter=2000).fit(np.array(x), np.array(y))
    pred = []
    for row in test:
        found = _candidates(row)
        best = int(np.argmax(model.decision_function(np.array([f for _, f in found])))) if found else None
        pred.append(found[best][0] if found else "")
    per_row = scores.answer_scores(pred, [r["answers"] for r in test])
    units = np.arange(len(test))
    out["scores"] = {k: scores.bootstrap(units, lambda r, q, v=v: float(v[r].mean())) for k, v in per_row.items()}
    return {**out, "available": True}


def _candidates(row: dict) -> list[tuple[str, list[float]]]:
    """Each distinct candidate of a row with its features."""
    passage = _WORD.findall(str(field_text(row, "passage")).lower())
    query = str(row["query"]).lower()
    asked = set(_WORD.findall(query.replace("@placeholder", " ")))
    where: dict[str, list[int]] = {}
    for i, w in enumerate(passage):
        where.setdefault(w, []).append(i)
    out = []
    for candidate in dict.fromkeys(row["entities"] or []):
        words = _WORD.findall(candidate.lower())
        if not words:
            continue
        at = [i for i in where.get(words[0], []) if passage[i : i + len(words)] == words]
        near = max((len(set(passage[max(0, i - WINDOW) : i + len(words) + WINDOW]) & asked) for i in at), default=0)
        named = float(" ".join(words) in " ".join(_WORD.findall(query)))
        first = at[0] / max(1, len(passage)) if at else 1.0
        out.append((candidate, [near / max(1, len(asked)), math.log1p(len(at)), first, named, len(words)]))
    return out
