"""How far raters agree beyond chance: Cohen's kappa for two, Fleiss' kappa (overall and per category)
for a panel. Pure functions over rows of category values, so the figures can be checked by hand."""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence


def _kappa(observed: float, expected: float) -> float | None:
    """(p_o - p_e) / (1 - p_e); None where chance agreement is already total (one category only)."""
    return None if expected >= 1 else round((observed - expected) / (1 - expected), 4)


def cohen(a: Sequence[Hashable], b: Sequence[Hashable]) -> float | None:
    """Cohen's kappa of two raters over the same items (None without items)."""
    n = len(a)
    if n == 0:
        return None
    observed = sum(x == y for x, y in zip(a, b, strict=True)) / n
    ca, cb = Counter(a), Counter(b)
    expected = sum(ca[k] * cb[k] for k in ca) / (n * n)
    return _kappa(observed, expected)


def fleiss(rows: Sequence[Sequence[Hashable]]) -> dict:
    """Fleiss' kappa of a fixed number of raters per item: overall, and per category (how far raters
    agree on that category beyond chance, Fleiss 1971 eq. 10). Items with fewer ratings are left out."""
    raters = max((len(r) for r in rows), default=0)
    rows = [r for r in rows if len(r) == raters]
    if raters < 2 or not rows:
        return {"kappa": None, "per_category": {}, "items": 0}
    n, m = len(rows), raters
    counts = [Counter(r) for r in rows]
    categories = sorted({k for c in counts for k in c}, key=str)
    share = {k: sum(c[k] for c in counts) / (n * m) for k in categories}
    observed = sum((sum(v * v for v in c.values()) - m) / (m * (m - 1)) for c in counts) / n
    expected = sum(p * p for p in share.values())
    per = {}
    for k in categories:
        p = share[k]
        agree = sum(c[k] * (m - c[k]) for c in counts) / (n * m * (m - 1) * p * (1 - p)) if 0 < p < 1 else None
        per[str(k)] = None if agree is None else round(1 - agree, 4)
    return {"kappa": _kappa(observed, expected), "per_category": per, "items": n}
