"""Named-entity bias: which kinds of entity the rows mention and which entities most often.

spaCy's English pipelines are not published on PyPI by their authors (only re-uploads by third
parties, which this project does not install), and nothing may be downloaded at run time, so the
tagger is rule-based and says so in metrics.json (`tagger: rules`):

- DATE: a month name with its day and year, or a year 1500-2099;
- MONEY: a currency sign or word with a number; PERCENT: a number with % or "percent";
- CARDINAL: any other number;
- NAME: a run of capitalised words (persons, organisations and places alike: rules cannot tell them
  apart), leaving out a single capitalised word that starts a sentence and leading function words.

Counted over a seeded sample of at most SAMPLE_ROWS rows (all of a smaller set), drawn by the caller.
"""

from __future__ import annotations

import re
from collections import Counter

import polars as pl

TAGGER = "rules"
SAMPLE_ROWS = 20_000
TOP = 20
MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
PATTERNS = [  # tried in order at each place: the first that matches names the span
    ("DATE", rf"\b(?:(?:{MONTHS})(?:\s+\d{{1,2}})?(?:,?\s+\d{{4}})?|\d{{1,2}}\s+(?:{MONTHS})(?:\s+\d{{4}})?)\b"),
    (
        "MONEY",
        r"[$€£]\s?\d[\d,]*(?:\.\d+)?(?:\s+(?:million|billion))?|\b\d[\d,]*(?:\.\d+)?\s+(?:dollars|euros|pounds)\b",
    ),
    ("PERCENT", r"\b\d+(?:\.\d+)?\s?(?:%|percent\b)"),
    ("DATE", r"\b(?:1[5-9]\d\d|20\d\d)\b"),
    ("CARDINAL", r"\b\d[\d,]*(?:\.\d+)?\b"),
    ("NAME", r"\b[A-Z][\w'’-]*(?:\s+(?:of|de|du|da|van|von|al)?\s*[A-Z][\w'’-]*)*"),
]
ENTITY = re.compile("|".join(f"(?P<{kind}{k}>{p})" for k, (kind, p) in enumerate(PATTERNS)))
FUNCTION_WORDS = frozenset(
    "The A An In On At As By For From Of To And But Or If When While After Before During Since This That These "
    "Those It Its He She They We I You His Her Their Our Who What Which Where Why How Is Are Was Were Be "
    "Yes No Not Each Every Some Many Most All Both".split()
)


def mentions(text: str) -> list[tuple[str, str]]:
    """(type, text) of every entity mention in a text."""
    out = []
    for m in ENTITY.finditer(text):
        kind = m.lastgroup.rstrip("0123456789")
        span = m.group()
        if kind == "NAME":
            words = span.split()
            while words and words[0] in FUNCTION_WORDS:
                words.pop(0)
            starts_sentence = m.start() == 0 or text[: m.start()].rstrip()[-1:] in {".", "!", "?", ":", '"', "\n"}
            if not words or (len(words) == 1 and starts_sentence and span == words[0]):
                continue
            span = " ".join(words)
        out.append((kind, span))
    return out


def metrics(rows: pl.DataFrame, fields: list[str]) -> dict:
    types, names = Counter(), Counter()
    for row in rows.select(fields).iter_rows():
        for value in row:
            for kind, span in mentions(value or ""):
                types[kind] += 1
                names[(kind, span)] += 1
    total = sum(types.values())
    return {
        "tagger": TAGGER,
        "rows": rows.height,
        "mentions": total,
        "per_row": round(total / rows.height, 3) if rows.height else 0.0,
        "types": {k: round(v / total, 4) for k, v in types.most_common()} if total else {},
        "top": [{"type": k, "text": s, "count": n} for (k, s), n in names.most_common(TOP)],
    }
