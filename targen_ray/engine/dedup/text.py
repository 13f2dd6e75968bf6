"""What dedup compares of a row: the task's text fields as one string, and the hashes of its word
n-grams (for MinHash and for long-n-gram decontamination).

The embedding model reads only the first 256 word pieces, so a row's fields go shortest first: the
question or hypothesis that tells two rows on one passage apart is always inside that window, and the
passage's tail is compared by the n-gram passes, which see every word.
"""

from __future__ import annotations

import json
import re
import zlib

import numpy as np
import pyarrow as pa

_WORD = re.compile(r"\w+")
_MIX = np.uint64(0x9E3779B97F4A7C15)  # odd 64-bit constant: spreads word hashes across an n-gram's hash


def row_text(fields: dict, names: list[str]) -> str:
    """The row's text fields joined, shortest first (ties in schema order)."""
    values = [str(fields.get(n) or "") for n in names]
    return "\n".join(sorted(values, key=len))


def texts(instances: pa.Array | pa.ChunkedArray, names: list[str]) -> list[str]:
    """Row texts of a column of instance JSON (the task fields step 3 wrote)."""
    return [row_text(json.loads(s), names) for s in instances.to_pylist()]


def ngrams(text: str, n: int) -> np.ndarray:
    """Hashes of the text's lower-cased word n-grams (one hash of the whole text when it is shorter)."""
    words = _WORD.findall(text.lower())
    h = np.array([zlib.crc32(w.encode()) for w in words] or [0], np.uint64)
    if len(h) < n:
        return np.array([_combine(h)], np.uint64)
    out = np.zeros(len(h) - n + 1, np.uint64)
    with np.errstate(over="ignore"):  # wrapping arithmetic is the point
        for k in range(n):
            out = out * _MIX + h[k : len(h) - n + 1 + k]
    return out


def _combine(h: np.ndarray) -> np.uint64:
    acc = np.uint64(0)
    with np.errstate(over="ignore"):
        for v in h:
            acc = acc * _MIX + v
    return acc
