"""Scores as SuperGLUE reports them, each with a bootstrap interval: accuracy, F1 (binary; macro-F1 over
three or more labels, CB's), Matthews correlation (AX-b's), exact match per question (MultiRC's EM, for
tasks whose rows group into questions), and EM / token F1 against a list of gold answers (ReCoRD's)."""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Callable

import numpy as np

RESAMPLES = 1000
LEVEL = 0.95  # the bootstrap interval's coverage


def accuracy(gold: np.ndarray, pred: np.ndarray) -> float:
    return float((gold == pred).mean()) if len(gold) else 0.0


def f1(gold: np.ndarray, pred: np.ndarray, positive: int = 1) -> float:
    tp = int(((pred == positive) & (gold == positive)).sum())
    fp, fn = int(((pred == positive) & (gold != positive)).sum()), int(((pred != positive) & (gold == positive)).sum())
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def macro_f1(gold: np.ndarray, pred: np.ndarray, k: int) -> float:
    return float(np.mean([f1(gold, pred, c) for c in range(k)]))


def mcc(gold: np.ndarray, pred: np.ndarray) -> float:
    tp, tn = float(((pred == 1) & (gold == 1)).sum()), float(((pred == 0) & (gold == 0)).sum())
    fp, fn = float(((pred == 1) & (gold == 0)).sum()), float(((pred == 0) & (gold == 1)).sum())
    den = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return float((tp * tn - fp * fn) / den) if den else 0.0


def confusion(gold: np.ndarray, pred: np.ndarray, k: int) -> list[list[int]]:
    """Rows: the gold label; columns: the predicted one."""
    m = np.zeros((k, k), int)
    np.add.at(m, (gold, pred), 1)
    return m.tolist()


def classification(gold: np.ndarray, pred: np.ndarray, groups: np.ndarray | None, k: int) -> dict[str, Score]:
    """The scores of a k-label task's predictions, each a `Score` of (rows, question groups) drawn;
    `groups` numbers each row's question (0..n-1), for tasks whose rows group into questions."""
    out: dict[str, Score] = {"accuracy": lambda r, q: accuracy(gold[r], pred[r])}
    if k == 2:
        out["f1"] = lambda r, q: f1(gold[r], pred[r])
        out["mcc"] = lambda r, q: mcc(gold[r], pred[r])
    else:
        out["macro_f1"] = lambda r, q: macro_f1(gold[r], pred[r], k)
    if groups is not None:  # a question is right when every one of its rows is
        right = np.bincount(groups, weights=gold != pred) == 0
        out["em"] = lambda r, q: float(right[q].mean())
    return out


# -- answers as text (ReCoRD): SQuAD's normalisation -------------------------------------------------------
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation)


def normalise(text: str) -> str:
    return " ".join(_ARTICLES.sub(" ", text.lower().translate(_PUNCT)).split())


def token_f1(pred: str, gold: str) -> float:
    p, g = normalise(pred).split(), normalise(gold).split()
    if not p or not g:  # SQuAD's rule: nothing left of either (an article, punctuation) is right only against nothing
        return float(p == g)
    common = sum((Counter(p) & Counter(g)).values())
    if not common:
        return 0.0
    precision, recall = common / len(p), common / len(g)
    return 2 * precision * recall / (precision + recall)


def answer_scores(pred: list[str], answers: list[list[str]]) -> dict[str, np.ndarray]:
    """Per row: exact match and token F1 of the prediction, each its best over the gold answers."""
    pairs = list(zip(pred, answers, strict=True))
    em = [max((float(normalise(p) == normalise(a)) for a in gold), default=0.0) for p, gold in pairs]
    tf = [max((token_f1(p, a) for a in gold), default=0.0) for p, gold in pairs]
    return {"em": np.array(em), "f1": np.array(tf)}


# -- intervals ----------------------------------------------------------------------------------------------
Score = Callable[[np.ndarray, np.ndarray], float]  # (rows drawn, their question groups drawn) -> score


def bootstrap(groups: np.ndarray, score: Score, seed: int = 0, resamples: int = RESAMPLES) -> dict[str, float]:
    """The score over every row, and a percentile interval from resampling questions (`groups`: each
    row's, numbered 0..n-1; a row is its own question in most tasks) with replacement, a question's
    rows drawn together."""
    n = int(groups.max()) + 1 if len(groups) else 0
    order = np.argsort(groups, kind="stable")
    bounds = np.searchsorted(groups[order], np.arange(n + 1))
    single = n == len(groups)
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(resamples if n else 0):
        pick = rng.integers(0, n, n)
        rows = order[pick] if single else np.concatenate([order[bounds[i] : bounds[i + 1]] for i in pick])
        draws.append(score(rows, pick))
    low, high = np.quantile(draws, [(1 - LEVEL) / 2, (1 + LEVEL) / 2]) if draws else (0.0, 0.0)
    value = score(np.arange(len(groups)), np.arange(n)) if n else 0.0
    return {"value": round(value, 4), "low": round(float(low), 4), "high": round(float(high), 4)}
