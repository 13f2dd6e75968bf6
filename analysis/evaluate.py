"""`targen evaluate`: does the data train a model? TarGEN's own experiment, on CPU.

A small model is trained on the run's synthetic train split and scored on its test split and, given a
reference set (rows the user holds, e.g. SuperGLUE's validation set), on the reference's labelled rows
outside its train split; a model trained on the reference's train split is scored on both too. That is
the paper's table: synthetic->real beside real->real. Each score has a bootstrap interval over
questions, and each classifier a confusion matrix. The result is metrics.json's `evaluation`, a table
and a plot in report.html, and a section of the published card.

Models (`--model`), for a task with labels:
  tfidf      logistic regression on TF-IDF of word 1-2-grams of the serialised row (PVI's family;
             both logistic regressions pick their regularisation by 3-fold CV on the train side)
  embedding  logistic regression on the packaged MiniLM's sentence embeddings (stage 5's vectors)
  finetune   the packaged MiniLM with a classification head, fine-tuned for a bounded number of steps
             as a Ray Train job across the cluster's CPU nodes (finetune.py)
A task whose answer is copied out of a field (ReCoRD's entity, a declared span) gets the span
baseline (spans.py): logistic regression over each candidate answer's features, the best per row. A
task whose answer is one of its row's options (a declared `one_of` a list field) is multiple choice,
scored by accuracy as SuperGLUE scores COPA, with the same family of baseline over its options
(choices.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV

from targen_ray.engine.cluster import check_cluster, ensure_ray
from targen_ray.engine.dedup.reference import files
from targen_ray.engine.store import RunDir
from targen_ray.engine.tasks import Task
from targen_ray.errors import SpecError

from . import choices, dataset, pairings, scores, spans
from .dataset import Dataset
from .difficulty import CS, serialise

MODELS = {
    "tfidf": "logistic regression on TF-IDF of word 1-2-grams of the serialised row",
    "embedding": "logistic regression on all-MiniLM-L6-v2 sentence embeddings (stage 5's vectors)",
    "finetune": "all-MiniLM-L6-v2 with a linear head, fine-tuned on Ray Train (one worker per CPU node)",
}
MAX_ITER = 2000


@dataclass(frozen=True)
class Answered:
    """How a task without labels is scored: by the baseline of the shape its answer has (a Task field)."""

    shape: str  # the Task field that says a task has this shape
    model: str  # metrics.json's `model`
    scored_as: str
    family: str
    evaluate: Callable[[RunDir, Task, list], list[dict]]


ANSWERED = (
    Answered("span_answer", "span", "extractive answers (exact match, token F1)", spans.FAMILY, spans.evaluate),
    Answered("choice_answer", "choice", "multiple choice (accuracy)", choices.FAMILY, choices.evaluate),
)


@dataclass
class Rows:
    """One side of a pairing: which rows, and what a model sees of them."""

    name: str  # "synthetic train", "reference validation", ...
    texts: list[str]
    labels: np.ndarray
    groups: np.ndarray  # each row's question, numbered 0..n-1 (a row is its own question in most tasks)
    vectors: np.ndarray | None  # unit embeddings, for `embedding`


def evaluate(run_dir: str, reference: list = (), model: str | None = None, steps: int | None = None) -> dict:
    """Train and score every pairing the run (and reference) allow; returns metrics.json's `evaluation`.
    `model`: one of MODELS for a task with labels (default tfidf); a task without labels has the baseline
    of its answer's shape only (ANSWERED). `steps`: finetune's optimiser steps per worker (default finetune.STEPS)."""
    if model is not None and model not in MODELS:
        raise SpecError(f"--model {model!r}: one of {', '.join(MODELS)}")
    started = time.monotonic()
    run = RunDir(run_dir)
    task = dataset.run_task(run)
    reference = files(reference)
    if len(task.label_names) < 2:
        kind = next((k for k in ANSWERED if getattr(task, k.shape) is not None), None)
        if kind is None:
            raise SpecError(
                f"{run}: task {task.name} has no labels, no answer copied out of a field and no answer "
                "one_of a list of options: nothing to score"
            )
        if model is not None:
            raise SpecError(
                f"--model {model}: task {task.name} has no labels; it is scored as {kind.scored_as}, whose one "
                f"model is the {kind.model} baseline (leave --model out)"
            )
        pairs, family, model, scored_as = kind.evaluate(run, task, reference), kind.family, kind.model, kind.scored_as
    else:
        model = model or "tfidf"
        if model == "finetune":
            check_cluster()
            ensure_ray(log_to_driver=False)
        pairs, family = _classified(_sides(run, task, reference, model), task, model, steps), MODELS[model]
        scored_as = "classification"
    return {
        "model": model,
        "scored_as": scored_as,
        "family": family,
        "source_sha256": run.final_digest(),
        "pairs": pairs,
        "wall_s": round(time.monotonic() - started, 2),
    }


def _sides(run: RunDir, task: Task, reference: list, model: str) -> dict[str, Rows]:
    """pairings.sides' labelled rows, as the model sees them."""
    syn = dataset.from_run(run, task)
    ref = _concat([dataset.from_file(p, task) for p in reference]) if reference else None
    labelled = [
        None if d is None else d.frame.with_row_index("_row").filter(pl.col("label").is_not_null()).collect()
        for d in (syn, ref)
    ]
    named = pairings.sides(*labelled)
    return {
        key: _rows(name, frame, syn if key.startswith("synthetic") else ref, task, model)
        for key, (name, frame) in named.items()
    }


def _classified(sides: dict[str, Rows], task: Task, model: str, steps: int | None) -> list[dict]:
    """Every pairing the sides allow, one model fitted per train side."""
    out = []
    for name, tested in pairings.wanted(sides):
        train, tests, k = sides[name], [sides[t] for t in tested], len(task.label_names)
        if len(np.unique(train.labels)) < 2:
            out += [
                {**_counts(train, test, k), "available": False, "reason": f"{train.name} has rows of one label only"}
                for test in tests
            ]
            continue
        predictions, training = _fit_predict(train, tests, model, k, steps)
        for test, pred in zip(tests, predictions, strict=True):
            per = scores.classification(test.labels, pred, test.groups if task.question_fields else None, k)
            scored = {metric: scores.bootstrap(test.groups, score) for metric, score in per.items()}
            confusion = scores.confusion(test.labels, pred, k)
            out.append(
                {**_counts(train, test, k), "available": True, "scores": scored, "confusion": confusion, **training}
            )
    return out


def _concat(sets: list[Dataset]) -> Dataset:
    frame = pl.concat([d.frame for d in sets])
    return Dataset("reference", frame, sets[0].fields, None, sum(d.rows for d in sets))


def _rows(name: str, frame: pl.DataFrame, d: Dataset, task: Task, model: str) -> Rows:
    """Rows of `d` (`frame`: some of them, with their `_row` in it) as a model sees them."""
    vectors = None
    if model == "embedding":
        picked = Dataset(name, frame.lazy(), d.fields, None, len(frame))
        stored = d.embeddings[frame["_row"].to_numpy()] if d.embeddings is not None else None
        vectors = stored if stored is not None else picked.embedded().embeddings
    return Rows(name, serialise(frame, d.fields), frame["label"].to_numpy(), _groups(frame, task), vectors)


def _groups(frame: pl.DataFrame, task: Task) -> np.ndarray:
    """Each row's question: rows sharing the task's `question_fields` (MultiRC: a paragraph's question
    with its several answers) are one; otherwise every row is its own."""
    if not task.question_fields or not len(frame):
        return np.arange(len(frame))
    named = dataset.field_columns(task)
    keys = frame.select([named[f] for f in task.question_fields])
    key = keys.select(pl.concat_str(keys.columns, separator="\x1f").alias("q"))["q"]
    return (key.rank("dense") - 1).to_numpy().astype(np.int64)


def _counts(train: Rows, test: Rows, k: int) -> dict:
    majority = int(np.bincount(train.labels, minlength=k).argmax())
    return {
        "train": train.name,
        "test": test.name,
        "train_rows": len(train.labels),
        "test_rows": len(test.labels),
        "chance": round(float((test.labels == majority).mean()), 4),  # always train's commonest label
    }


def _fit_predict(
    train: Rows, tests: list[Rows], model: str, k: int, steps: int | None
) -> tuple[list[np.ndarray], dict]:
    """Each test set's predicted labels, and (finetune) how the training ran."""
    if model == "finetune":
        from . import finetune

        tested = [t.texts for t in tests]
        predictions, training = finetune.fit_predict(train.texts, train.labels, tested, k, steps or finetune.STEPS)
        return predictions, {"training": training}
    classifier = _classifier(train.labels)
    if model == "embedding":
        classifier.fit(train.vectors, train.labels)
        return [classifier.predict(t.vectors) for t in tests], {}
    tfidf = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, max_features=2**18)
    classifier.fit(tfidf.fit_transform(train.texts), train.labels)
    return [classifier.predict(tfidf.transform(t.texts)) for t in tests], {}


def _classifier(labels: np.ndarray):
    """Logistic regression, its regularisation chosen by 3-fold log-loss on the train side alone from
    PVI's grid; with fewer than 3 rows of some label, sklearn's default."""
    if np.unique(labels, return_counts=True)[1].min() < 3:
        return LogisticRegression(max_iter=MAX_ITER)
    cv = {"scoring": "neg_log_loss", "l1_ratios": (0.0,), "use_legacy_attributes": False}
    return LogisticRegressionCV(Cs=list(CS), cv=3, max_iter=MAX_ITER, **cv)
