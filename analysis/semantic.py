"""Semantic diversity over every row's embedding (the unit vectors stage 5 stored), never a sample:

- mean pairwise cosine of N unit vectors with mean μ is (N·‖μ‖² − 1)/(N − 1): Σᵢⱼ xᵢ·xⱼ = N²‖μ‖²,
  less the N self-pairs, over the N(N − 1) ordered pairs;
- the Vendi score (Friedman & Dieng, 2023) with a linear kernel, exp of the entropy of the eigenvalues of
  K/N = XXᵀ/N, which are those of the d×d matrix XᵀX/N: O(N·d²). It grows with N, so compare it only
  between sets of equal size.
"""

from __future__ import annotations

import numpy as np

HISTOGRAM_ROWS = 2000  # the pairwise-similarity plot's sample (2M pairs); the metrics use every row


def unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def mean_cosine(x: np.ndarray) -> float:
    n = len(x)
    if n < 2:
        return 0.0
    mu = unit(x).mean(axis=0)
    return float((n * mu @ mu - 1) / (n - 1))


def vendi(x: np.ndarray) -> float:
    if not len(x):
        return 0.0
    x = unit(x)
    eig = np.clip(np.linalg.eigvalsh(x.T @ x / len(x)), 0, None)
    eig = eig[eig > 1e-12]
    return float(np.exp(-(eig * np.log(eig)).sum()))


def pair_similarities(x: np.ndarray, seed: int = 0) -> np.ndarray:
    """Cosines of every pair among a seeded sample of rows: the distribution the report plots."""
    if len(x) > HISTOGRAM_ROWS:
        x = x[np.random.default_rng(seed).choice(len(x), HISTOGRAM_ROWS, replace=False)]
    x = unit(x)
    return (x @ x.T)[np.triu_indices(len(x), k=1)].astype(np.float32)


def metrics(x: np.ndarray | None, why_not: str) -> dict:
    if x is None:
        return {"available": False, "reason": why_not}
    return {
        "available": True,
        "rows": len(x),
        "mean_cosine": round(mean_cosine(x), 4),
        "vendi": round(vendi(x), 3),
    }
