"""Difficulty as pointwise V-information (Ethayarajh, Choi & Swayamdipta, ICML 2022):

    PVI(x → y) = −log2 g∅(y) + log2 g′[x](y)

V is logistic regression on TF-IDF of the row's serialised input (its text fields, named): a family
that fits on a CPU in seconds at full size and needs no embeddings. g′ is fitted on k − 1 folds and
scores the held-out fold (k-fold cross-fitting), so every row's PVI is held out; g∅, the same family
given no input, is the training folds' label prior. The mean PVI estimates the V-information of the
dataset; a row with low or negative PVI is hard (or mislabelled) for V.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegressionCV
from sklearn.model_selection import StratifiedKFold

FAMILY = (
    "logistic regression on TF-IDF of word 1-2-grams of the serialised input (regularisation chosen by "
    "inner 3-fold log-loss), 5-fold cross-fitted"
)
CS = (0.1, 1.0, 10.0, 100.0)  # g′ is the member of V that fits best: a random label gets a flat model
FOLDS = 5
SHOWN = 5  # hardest and easiest rows in the report
SNIPPET = 240


def serialise(frame: pl.DataFrame, fields: list[str]) -> list[str]:
    return [" ".join(f"{f}: {r[f]}" for f in fields) for r in frame.select(fields).iter_rows(named=True)]


def pvi(texts: list[str], labels: np.ndarray, folds: int = FOLDS, seed: int = 0) -> np.ndarray:
    """Held-out PVI of every row, in bits."""
    out = np.zeros(len(labels))
    split = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    classes = np.unique(labels)
    for train, held in split.split(np.zeros(len(labels)), labels):
        tfidf = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2, max_features=2**18)
        x_train = tfidf.fit_transform([texts[i] for i in train])
        model = LogisticRegressionCV(
            Cs=list(CS), cv=3, scoring="neg_log_loss", max_iter=1000, l1_ratios=(0.0,), use_legacy_attributes=False
        )
        model.fit(x_train, labels[train])
        proba = model.predict_proba(tfidf.transform([texts[i] for i in held]))
        column = np.searchsorted(model.classes_, labels[held])
        p_x = proba[np.arange(len(held)), column]
        prior = (np.bincount(np.searchsorted(classes, labels[train]), minlength=len(classes)) + 1) / (
            len(train) + len(classes)
        )
        p_empty = prior[np.searchsorted(classes, labels[held])]
        out[held] = -np.log2(p_empty) + np.log2(np.clip(p_x, 1e-12, None))
    return out


def unavailable(rows: pl.DataFrame, names: list[str]) -> str | None:
    """Why PVI cannot be estimated from these labelled rows, or None."""
    if len(names) < 2:
        return "the task has one label: there is nothing for V to predict"
    counts = rows["label"].value_counts()["count"]
    if counts.len() < 2 or counts.min() < FOLDS:
        return f"fewer than {FOLDS} labelled rows of some label"
    return None


def metrics(frame: pl.LazyFrame, fields: list[str], names: list[str]) -> tuple[dict, np.ndarray]:
    """The PVI summary and every labelled row's PVI (for the histogram)."""
    rows = frame.filter(pl.col("label").is_not_null()).collect() if len(names) > 1 else None
    why = unavailable(rows, names)
    if why:
        return {"available": False, "reason": why, "family": FAMILY}, np.zeros(0)
    labels = rows["label"].to_numpy()
    values = pvi(serialise(rows, fields), labels)
    p5, median, p95 = np.percentile(values, [5, 50, 95])
    order = np.argsort(values, kind="stable")

    def shown(i: int) -> dict:
        text = " | ".join(str(rows[f][int(i)]) for f in fields)
        return {
            "id": rows["id"][int(i)],
            "split": rows["split"][int(i)],
            "label": names[int(labels[i])],
            "pvi": round(float(values[i]), 3),
            "text": text[:SNIPPET] + ("…" if len(text) > SNIPPET else ""),
        }

    return {
        "available": True,
        "family": FAMILY,
        "rows": len(values),
        "v_information": round(float(values.mean()), 4),
        "pvi": {
            "mean": round(float(values.mean()), 4),
            "median": round(float(median), 4),
            "p5": round(float(p5), 4),
            "p95": round(float(p95), 4),
        },
        "by_label": {names[k]: round(float(values[labels == k].mean()), 4) for k in np.unique(labels)},
        "hardest": [shown(i) for i in order[:SHOWN]],
        "easiest": [shown(i) for i in order[::-1][:SHOWN]],
    }, values
