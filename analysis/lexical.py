"""Lexical diversity of the text fields: vocabulary, distinct-n (distinct-1 is the type-token ratio),
moving-average TTR (length-robust) and word lengths per field. Words are lower-cased `\\w+` runs, as
stage 5 counts them; n-grams never cross a field value. Tokenising is polars' streaming engine; counting is numpy over
64-bit word hashes."""

from __future__ import annotations

import numpy as np
import polars as pl

WORD = r"\w+"
MATTR_WINDOW = 50  # Covington & McFall's common window: long enough to repeat, short enough for any corpus
MATTR_CHUNK = 2**20
_MIX = np.uint64(0x9E3779B97F4A7C15)


def words(frame: pl.LazyFrame, fields: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Every word of every field value as a hash, in order, and the number of the value it is in."""
    per_field = [
        frame.select(pl.col(f).fill_null("").str.to_lowercase().str.extract_all(WORD).alias("w")) for f in fields
    ]
    out = (
        pl.concat(per_field)
        .with_row_index("value")
        .explode("w")
        .drop_nulls("w")
        .select("value", pl.col("w").hash(seed=0).alias("h"))
        .collect(engine="streaming")
    )
    return out["h"].to_numpy(), out["value"].to_numpy()


def ngram_hashes(h: np.ndarray, value: np.ndarray, n: int) -> np.ndarray:
    """Hashes of every run of n words within one field value."""
    if len(h) < n:
        return np.zeros(0, np.uint64)
    m = len(h) - n + 1
    keep = value[:m] == value[n - 1 :]
    out = np.zeros(m, np.uint64)
    with np.errstate(over="ignore"):  # wrapping arithmetic is the point
        for k in range(n):
            out = out * _MIX + h[k : k + m]
    return out[keep]


def distinct(h: np.ndarray, value: np.ndarray, n: int) -> float:
    """distinct-n: distinct n-grams / all n-grams (Li et al., 2016); distinct-1 is the type-token ratio."""
    grams = ngram_hashes(h, value, n)
    return float(len(np.unique(grams)) / len(grams)) if len(grams) else 0.0


def mattr(h: np.ndarray, window: int = MATTR_WINDOW) -> float:
    """Moving-average type-token ratio: the mean TTR of every `window`-word window of the word stream
    (plain TTR when there are fewer words). The stream is taken in chunks of MATTR_CHUNK words, which
    bounds memory at full size and leaves out only the few windows that would straddle two chunks."""
    if len(h) == 0:
        return 0.0
    if len(h) <= window:
        return len(np.unique(h)) / len(h)
    types, windows = 0, 0
    for start in range(0, len(h), MATTR_CHUNK):
        chunk = h[start : start + MATTR_CHUNK]
        if len(chunk) >= window:
            counts = _window_types(chunk, window)
            types, windows = types + int(counts.sum()), windows + len(counts)
    return types / windows / window


def _window_types(h: np.ndarray, window: int) -> np.ndarray:
    """Types in each window, in O(n): a window's count drops by one when the word leaving it does not
    recur inside it, and rises by one when the word entering it did not occur in it."""
    n = len(h)
    _, ids = np.unique(h, return_inverse=True)
    order = np.argsort(ids, kind="stable")
    same = ids[order][1:] == ids[order][:-1]
    prev, nxt = np.full(n, -1), np.full(n, n)
    prev[order[1:][same]] = order[:-1][same]
    nxt[order[:-1][same]] = order[1:][same]
    first = int((prev[:window] < 0).sum())
    s = np.arange(n - window)
    added = prev[s + window] <= s  # the entering word is not in positions s+1 .. s+window-1
    removed = nxt[s] >= s + window  # the leaving word does not recur in positions s+1 .. s+window-1
    return np.concatenate([[first], first + np.cumsum(added.astype(int) - removed.astype(int))])


def lengths(frame: pl.LazyFrame, fields: list[str]) -> dict[str, np.ndarray]:
    """Words per value of each field."""
    counts = frame.select(pl.col(f).fill_null("").str.count_matches(WORD) for f in fields).collect(engine="streaming")
    return {f: counts[f].to_numpy() for f in fields}


def summarise(values: np.ndarray) -> dict:
    if not len(values):
        return dict.fromkeys(("mean", "median", "p5", "p95", "max"), 0.0)
    p5, median, p95 = np.percentile(values, [5, 50, 95])
    return {
        "mean": round(float(values.mean()), 2),
        "median": float(median),
        "p5": float(p5),
        "p95": float(p95),
        "max": float(values.max()),
    }


def metrics(frame: pl.LazyFrame, fields: list[str]) -> tuple[dict, dict[str, np.ndarray]]:
    """The lexical metrics, and each field's word lengths (for the histograms)."""
    h, value = words(frame, fields)
    per_field = lengths(frame, fields)
    return {
        "words": int(len(h)),
        "vocabulary": int(len(np.unique(h))),
        "distinct_1": round(distinct(h, value, 1), 4),
        "distinct_2": round(distinct(h, value, 2), 4),
        "distinct_3": round(distinct(h, value, 3), 4),
        "mattr": round(mattr(h), 4),
        "mattr_window": MATTR_WINDOW,
        "lengths": {f: summarise(v) for f, v in per_field.items()},
    }, per_field
