"""MinHash over word 5-grams, and pairs whose estimated Jaccard similarity passes a threshold (LSH).

This pass sees every word of a row, where the embedding sees only the first 256 word pieces: two
ReCoRD passages that differ past that window are told apart here, and a light edit deep in a long
passage is still caught.
"""

from __future__ import annotations

import numpy as np

from .text import ngrams

SHINGLE = 5  # words per shingle
PERMUTATIONS = 64
BANDS = 16  # 16 bands of 4 values: a pair at Jaccard 0.8 shares a band with probability 0.9998
_PRIME = np.uint64((1 << 61) - 1)
_rng = np.random.default_rng(20240607)  # fixed: signatures written in one run are compared in the next
_A = _rng.integers(1, 1 << 31, PERMUTATIONS, dtype=np.uint64)
_B = _rng.integers(0, 1 << 31, PERMUTATIONS, dtype=np.uint64)


def signature(text: str) -> np.ndarray:
    """PERMUTATIONS minimum hashes (uint32) of the text's word 5-grams."""
    h = ngrams(text, SHINGLE) & np.uint64(0xFFFFFFFF)
    return (((h[:, None] * _A + _B) % _PRIME) & np.uint64(0xFFFFFFFF)).min(axis=0).astype(np.uint32)


def signatures(texts: list[str]) -> np.ndarray:
    return np.stack([signature(t) for t in texts]) if texts else np.zeros((0, PERMUTATIONS), np.uint32)


def similar_pairs(sig: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i, j, estimated Jaccard) with i < j for rows sharing an LSH band and agreeing on at least
    `threshold` of their signature. Within a band's bucket every row is paired with the bucket's first
    row only, so a bucket of k copies costs k pairs, not k²."""
    n = len(sig)
    rows = PERMUTATIONS // BANDS
    pi, pj = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    for b in range(BANDS):
        band = np.ascontiguousarray(sig[:, b * rows : (b + 1) * rows]).view(np.dtype((np.void, 4 * rows)))[:, 0]
        order = np.argsort(band, kind="stable")
        keys = band[order]
        starts = np.r_[True, keys[1:] != keys[:-1]] if n else np.zeros(0, bool)
        first = order[np.maximum.accumulate(np.where(starts, np.arange(n), 0))]
        other = order != first
        pi.append(np.minimum(first, order)[other])
        pj.append(np.maximum(first, order)[other])
    i, j = np.concatenate(pi), np.concatenate(pj)
    _, unique = np.unique(i * max(n, 1) + j, return_index=True)
    i, j = i[unique], j[unique]
    jaccard = (sig[i] == sig[j]).mean(axis=1) if len(i) else np.zeros(0)
    keep = jaccard >= threshold
    return i[keep], j[keep], jaccard[keep].astype(np.float32)
