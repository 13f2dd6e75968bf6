"""The multiple-choice baseline of `targen evaluate`, for a task whose answer is one of its row's options
(`Task.choice_answer`: a list field of options and an answer declared `one_of` them; COPA's shape, whose
two alternatives SuperGLUE scores as multiple choice, by accuracy). Each option gets features of how it
stands against the row's question fields (the passage, the question): the share of its words they say,
its TF-IDF cosine similarity to them (fitted on the train side), its place and its length among the
options. Logistic regression, trained on which options are gold, picks each row's best option."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import polars as pl
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import normalize

from targen_ray.engine.dedup.reference import read_rows, split_of
from targen_ray.engine.store import RunDir
from targen_ray.engine.tasks import ChoiceAnswer, Task

from . import dataset, pairings, scores

FAMILY = (
    "logistic regression over each option's features (the share of its words the question fields say, its "
    "TF-IDF cosine similarity to them, its place and length among the options); the best option per row"
)
TRAIN_ROWS = 20_000  # rows a model is fitted on at most (seeded sample)
_WORD = re.compile(r"\w+")
_STOP = frozenset(ENGLISH_STOP_WORDS)
SCHEMA = {"question": pl.String, "options": pl.List(pl.String), "gold": pl.String}


def evaluate(run: RunDir, task: Task, reference: list[Path]) -> list[dict]:
    """Every pairing (pairings.PAIRINGS) the run and reference allow."""
    shape = task.choice_answer
    columns = [
        dataset.joined(shape.question).alias("question"),
        pl.col(shape.options).alias("options"),
        pl.col(shape.field).alias("gold"),
    ]
    synthetic = dataset.final_rows(run, columns, SCHEMA)
    ref = _from_files(reference, shape) if reference else None
    answered = pl.col("gold").is_not_null() & (pl.col("options").list.len() > 0)  # a test split may lack answers
    named = pairings.sides(synthetic.filter(answered), None if ref is None else ref.filter(answered))
    return [_pair(named[a], named[b]) for a, tested in pairings.wanted(named) for b in tested]


def _from_files(paths: list[Path], shape: ChoiceAnswer) -> pl.DataFrame:
    rows = [
        {
            "question": "\n".join(str(r[q]) for q in shape.question),
            "options": [str(o) for o in r[shape.options] or []],
            "gold": None if r[shape.field] is None else str(r[shape.field]),
            "split": split_of(r, p),
        }
        for p in paths
        for r in read_rows(p, [shape.field, shape.options, *shape.question])
    ]
    return pl.DataFrame(rows, schema={**SCHEMA, "split": pl.String})


def _pair(train: tuple[str, pl.DataFrame], test: tuple[str, pl.DataFrame]) -> dict:
    (train_name, train_rows), (test_name, test_rows) = train, test
    train_rows, test_rows = train_rows.to_dicts(), test_rows.to_dicts()
    out = {"train": train_name, "test": test_name, "train_rows": len(train_rows), "test_rows": len(test_rows)}
    if len(train_rows) > TRAIN_ROWS:
        pick = np.random.default_rng(0).choice(len(train_rows), TRAIN_ROWS, replace=False)
        train_rows = [train_rows[i] for i in np.sort(pick)]
    golds = [gold_mask(r["options"], r["gold"]) for r in test_rows]
    out["chance"] = round(float(np.mean([g.mean() for g in golds] or [0.0])), 4)  # an option drawn at random
    tfidf = TfidfVectorizer(sublinear_tf=True).fit([t for r in train_rows for t in (r["question"], *r["options"])])
    x = [features(r["question"], r["options"], tfidf) for r in train_rows]
    y = np.concatenate([gold_mask(r["options"], r["gold"]) for r in train_rows])
    if len(set(y.tolist())) < 2:
        return {**out, "available": False, "reason": f"{train_name}'s options are all answers or all not"}
    model = LogisticRegression(C=1.0, max_iter=2000).fit(np.concatenate(x), y)
    picked = [int(np.argmax(model.decision_function(features(r["question"], r["options"], tfidf)))) for r in test_rows]
    right = np.array([bool(g[k]) for g, k in zip(golds, picked, strict=True)], float)
    accuracy = scores.bootstrap(np.arange(len(right)), lambda r, q: float(right[r].mean()))
    return {**out, "available": True, "scores": {"accuracy": accuracy}}


def gold_mask(options: list[str], gold: str) -> np.ndarray:
    """Which options are the answer, by SQuAD's normalisation (a reference may differ in case)."""
    return np.array([scores.normalise(o) == scores.normalise(gold) for o in options], bool)


def _content(text: str) -> set[str]:
    words = {w.lower() for w in _WORD.findall(text)}
    return words - _STOP or words  # an option of stop words only is its words


def features(question: str, options: list[str], tfidf: TfidfVectorizer) -> np.ndarray:
    """One row per option: how much of it the question fields say, and where it stands among the others."""
    asked = _content(question)
    said = np.array([len(_content(o) & asked) / max(1, len(_content(o))) for o in options])
    vectors = normalize(tfidf.transform([question, *options]))
    similar = (vectors[1:] @ vectors[0].T).toarray().ravel()
    lengths = np.array([len(_WORD.findall(o)) for o in options], float)
    place = np.arange(len(options)) / max(1, len(options) - 1)
    return np.column_stack(
        [
            said,
            said == said.max(),
            similar,
            similar == similar.max(),
            place,
            place == 0,
            place == 1,
            lengths / max(1.0, lengths.max()),
            lengths == lengths.max(),
        ]
    ).astype(float)
