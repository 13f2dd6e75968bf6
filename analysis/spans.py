"""The span baseline of `targen evaluate`, for a task whose answer is copied out of a field
(`Task.span_answer`): ReCoRD's entity, a declared span field (SQuAD's shape). A row's candidate answers
are its own list (ReCoRD's entities) or, with none, every run of words of the source that stays inside
one sentence and is no longer than most train answers. Each gets features of where it stands against
the question; logistic regression, trained on which candidates are gold, picks each row's best.
Scored as SQuAD and ReCoRD are: exact match and token F1, each the best over the row's gold answers."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS
from sklearn.linear_model import LogisticRegression

from targen_ray.engine.dedup.reference import read_rows, split_of
from targen_ray.engine.store import RunDir
from targen_ray.engine.tasks import SpanAnswer, Task

from . import dataset, pairings, scores

FAMILY = (
    "logistic regression over each candidate answer's features (question words near it and in its sentence, "
    "its length, case and place in the source, whether the question says it already); the best candidate per row"
)
WINDOW = 12  # source words either side of a candidate that count as near it
TRAIN_ROWS = 20_000  # rows a model is fitted on at most (seeded sample)
NEGATIVES = 40  # wrong candidates a train row contributes at most (seeded sample): runs of words are many
LONGEST = 20  # words a run of the source may have at most, whatever the train answers' length
_WORD = re.compile(r"\w+")
_BREAK = re.compile(r"[.!?;][\"')\]]*\s|\n")  # between two words: a run of words does not cross it
_STOP = frozenset(ENGLISH_STOP_WORDS)
SCHEMA = {"source": pl.String, "question": pl.String, "candidates": pl.List(pl.String), "gold": pl.List(pl.String)}


def evaluate(run: RunDir, task: Task, reference: list[Path]) -> list[dict]:
    """Every pairing (pairings.PAIRINGS) the run and reference allow."""
    shape = task.span_answer
    synthetic = dataset.final_rows(run, _columns(shape, task), SCHEMA)
    ref = _from_files(reference, shape) if reference else None
    answered = pl.col("gold").list.len() > 0  # a test split may come without answers
    named = pairings.sides(synthetic.filter(answered), None if ref is None else ref.filter(answered))
    return [_pair(named[a], named[b]) for a, tested in pairings.wanted(named) for b in tested]


def _columns(shape: SpanAnswer, task: Task) -> list[pl.Expr]:
    """A final split's rows as source, question, candidates (null: none listed) and gold."""
    return [
        pl.col(shape.source).alias("source"),
        dataset.joined(shape.question).alias("question"),
        (pl.col(shape.candidates) if shape.candidates else pl.lit(None, pl.List(pl.String))).alias("candidates"),
        _gold(task.record_schema.field(shape.field).type, pl.col(shape.field)).alias("gold"),
    ]


def _gold(kind: pa.DataType, column: pl.Expr) -> pl.Expr:
    """The gold answers as a list of texts: a span struct's `text`, a list, or one text."""
    if pa.types.is_struct(kind):
        return column.struct.field("text")
    return column if pa.types.is_list(kind) else pl.concat_list([column])


def _from_files(paths: list[Path], shape: SpanAnswer) -> pl.DataFrame:
    needed = [shape.field, shape.source, *shape.question, *([shape.candidates] if shape.candidates else [])]
    rows = [
        {
            "source": str(r[shape.source]),
            "question": "\n".join(str(r[q]) for q in shape.question),
            "candidates": list(r[shape.candidates]) if shape.candidates else None,
            "gold": _golds(r[shape.field]),
            "split": split_of(r, p),
        }
        for p in paths
        for r in read_rows(p, needed)
    ]
    return pl.DataFrame(rows, schema={**SCHEMA, "split": pl.String})


def _golds(value) -> list[str]:
    """A reference row's gold answers: a text, a list of texts, or SQuAD's {text: [...], answer_start}."""
    if isinstance(value, dict):
        value = value.get("text", [])
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _pair(train: tuple[str, pl.DataFrame], test: tuple[str, pl.DataFrame]) -> dict:
    (train_name, train_rows), (test_name, test_rows) = train, test
    train_rows, test_rows = train_rows.to_dicts(), test_rows.to_dicts()
    out = {"train": train_name, "test": test_name, "train_rows": len(train_rows), "test_rows": len(test_rows)}
    rng = np.random.default_rng(0)
    if len(train_rows) > TRAIN_ROWS:
        train_rows = [train_rows[i] for i in np.sort(rng.choice(len(train_rows), TRAIN_ROWS, replace=False))]
    lengths = [len(_WORD.findall(g)) for r in train_rows for g in r["gold"]]
    longest = int(min(LONGEST, max(1, np.percentile(lengths, 95)))) if lengths else 1
    x, y = [], []
    for row in train_rows:
        texts, features = _candidates(row, longest)
        right = _gold_mask(texts, row["gold"])
        wrong = np.flatnonzero(~right)
        keep = np.concatenate([np.flatnonzero(right), rng.permutation(wrong)[:NEGATIVES]])
        x.append(features[keep])
        y.append(right[keep])
    test = [_candidates(row, longest) for row in test_rows]
    # a candidate drawn at random: what a model that learnt nothing scores, on average
    hits = [
        _gold_mask(texts, r["gold"]).mean() if texts else 0.0 for r, (texts, _) in zip(test_rows, test, strict=True)
    ]
    out["chance"] = round(float(np.mean(hits or [0.0])), 4)
    y = np.concatenate(y) if y else np.zeros(0, bool)
    if len(set(y.tolist())) < 2:
        return {**out, "available": False, "reason": f"{train_name}'s candidates are all answers or all not"}
    model = LogisticRegression(C=1.0, max_iter=2000).fit(np.concatenate(x), y)
    pred = [texts[int(np.argmax(model.decision_function(f)))] if texts else "" for texts, f in test]
    per_row = scores.answer_scores(pred, [r["gold"] for r in test_rows])
    units = np.arange(len(test_rows))
    out["scores"] = {k: scores.bootstrap(units, lambda r, q, v=v: float(v[r].mean())) for k, v in per_row.items()}
    return {**out, "available": True}


def _gold_mask(texts: list[str], gold: list[str]) -> np.ndarray:
    """Which candidates are a gold answer, by SQuAD's normalisation (the golds normalised once)."""
    golds = {scores.normalise(g) for g in gold}
    return np.array([scores.normalise(t) in golds for t in texts], bool)


class _Source:
    """A row's source text as words, with what the features need of each word, as prefix sums."""

    def __init__(self, text: str, question: str):
        found = list(_WORD.finditer(text))
        self.text, self.n = text, len(found)
        self.starts, self.ends = [m.start() for m in found], [m.end() for m in found]
        self.words = [m.group().lower() for m in found]
        self.asked = {w.lower() for w in _WORD.findall(question) if w.lower() not in _STOP} - {"placeholder"}
        gaps = [text[self.ends[k] : self.starts[k + 1]] for k in range(self.n - 1)]
        self.breaks = np.array([bool(_BREAK.search(g)) for g in gaps] + [True], bool)  # after each word
        self.sentence = np.concatenate([[0], np.cumsum(self.breaks[:-1])])[: self.n].astype(np.int64)
        asked = np.array([w in self.asked for w in self.words], float)
        self.asked_in_sentence = np.bincount(self.sentence, weights=asked, minlength=1)
        self.sums = {
            name: np.concatenate([[0.0], np.cumsum(v)])
            for name, v in {
                "asked": asked,
                "upper": np.array([m.group()[0].isupper() for m in found], float),
                "digit": np.array([any(c.isdigit() for c in m.group()) for m in found], float),
                "break": self.breaks.astype(float),
            }.items()
        }

    def count(self, name: str, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """How many words in [lo, hi) have `name`."""
        s = self.sums[name]
        return s[np.clip(hi, 0, self.n)] - s[np.clip(lo, 0, self.n)]

    def runs(self, longest: int) -> tuple[np.ndarray, np.ndarray]:
        """Every (first word, length) of a run of at most `longest` words inside one sentence."""
        i, length = np.meshgrid(np.arange(self.n), np.arange(1, longest + 1), indexing="ij")
        i, length = i.ravel(), length.ravel()
        fits = (i + length <= self.n) & (self.count("break", i, i + length - 1) == 0)
        return i[fits], length[fits]

    def find(self, words: list[str]) -> list[int]:
        first = words[0]
        return [k for k, w in enumerate(self.words) if w == first and self.words[k : k + len(words)] == words]

    def features(self, i: np.ndarray, length: np.ndarray, longest: int) -> np.ndarray:
        """One row per occurrence (first word, length)."""
        asked = max(1, len(self.asked))
        inside = self.count("asked", i, i + length)
        near = self.count("asked", i - WINDOW, i + length + WINDOW) - inside
        first, last = np.array(self.words, object)[i], np.array(self.words, object)[i + length - 1]
        stop = np.array([a in _STOP or b in _STOP for a, b in zip(first, last, strict=True)], float)
        starts_sentence = np.where(i > 0, self.breaks[np.maximum(i - 1, 0)], True)
        return np.column_stack(
            [
                np.minimum(1.0, near / asked),
                np.minimum(1.0, self.asked_in_sentence[self.sentence[i]] / asked),
                inside / length,  # the question says it already: rarely its own answer
                self.count("upper", i, i + length) / length,
                self.count("digit", i, i + length) > 0,
                stop,
                starts_sentence,
                i / max(1, self.n),
                length / max(longest, length.max(initial=1)),
                length == 1,
                length == 2,
                length == 3,
            ]
        ).astype(float)


POSITION, FEATURES = 7, 12  # features()' column of the place in the source, and how many it makes


def _candidates(row: dict, longest: int) -> tuple[list[str], np.ndarray]:
    """A row's distinct candidates and their features: those of its first occurrence, the best nearness
    and sentence overlap of any, and how often it occurs. One that never occurs comes last in place."""
    source = _Source(row["source"], row["question"])
    if row["candidates"] is None:
        i, length = source.runs(longest)
        group: dict[str, int] = {}  # the same words at two places are one candidate
        owner, texts = [], []
        for a, b in zip(i.tolist(), length.tolist(), strict=True):
            g = group.setdefault(" ".join(source.words[a : a + b]), len(group))
            if g == len(texts):
                texts.append(source.text[source.starts[a] : source.ends[a + b - 1]])
            owner.append(g)
        owner = np.array(owner, np.int64)
    else:
        texts = [c for c in dict.fromkeys(row["candidates"]) if _WORD.search(c)]
        found = [
            (g, k, len(words))
            for g, c in enumerate(texts)
            for words in [_WORD.findall(c.lower())]
            for k in source.find(words)
        ]
        owner, i, length = (
            (np.array(x, np.int64).reshape(-1) for x in zip(*found, strict=True))
            if found
            else (np.zeros(0, np.int64),) * 3
        )
    out = np.zeros((len(texts), FEATURES + 1))
    out[:, POSITION] = 1.0
    if len(i):
        per = source.features(i, length, longest)
        seen, first = np.unique(owner, return_index=True)  # occurrences come in order of place
        out[seen, :FEATURES] = per[first]
        for column in (0, 1):
            np.maximum.at(out[:, column], owner, per[:, column])
        out[:, FEATURES] = np.log1p(np.bincount(owner, minlength=len(texts)))
    return texts, out
