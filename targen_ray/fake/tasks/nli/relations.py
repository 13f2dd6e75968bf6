"""The three relations of the entailment family and what its premise grammars share."""

from __future__ import annotations

import re

ENTAIL, CONTRA, NEUTRAL = "entailment", "contradiction", "neutral"
RELATIONS = (ENTAIL, CONTRA, NEUTRAL)

DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
NAME = r"[A-Z]\w+ [A-Z]\w+"


def alt(words) -> str:
    """A regex alternation of `words`, longest first."""
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


def count_holds(n: int, q: str) -> bool:
    m = int(q.split()[-1])
    return n > m if q.startswith("more") else n < m if q.startswith("fewer") else n == m
