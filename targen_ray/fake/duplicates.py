"""Planted duplicates, to measure stage 5: distinct rows as the fake writes them, and copies of some of
them made verbatim, by a light edit (the fake's `near_duplicate`: one sentence swapped), or by a
paraphrase-style rewrite (sentences reordered, words and phrases swapped for synonyms)."""

from __future__ import annotations

import json
import random
import re

from .tasks import boolq, record
from .words import ASPECTS, ERAS, TOPICS

KINDS = ("verbatim", "light edit", "paraphrase")

# Phrase swaps that keep the meaning; the first match of each applies.
REWRITES = [
    (r"\bwas founded in\b", "was established in"),
    (r"\bfounded\b", "established"),
    (r"\bIt grew out of an interest in\b", "Its origins lay in a fascination with"),
    (r"\bit counted (\d+) members\b", r"its membership had reached \1"),
    (r"\bis best known for\b", "is chiefly remembered for"),
    (r"\bToday\b", "Nowadays"),
    (r"\bannounced\b", "said"),
    (r"\bexpected to\b", "likely to"),
    (r"\bCritics\b", "Opponents"),
    (r"\bwarned\b", "cautioned"),
    (r"\breporters\b", "journalists"),
    (r"\bproposal\b", "plan"),
    (r"\bdecision\b", "move"),
    (r"\bmodest\b", "humble"),
    (r"\bregularly\b", "often"),
    (r"\bsurvive\b", "remain"),
]
_SENTENCE = re.compile(r"(?<=[.!?'])\s+(?=[A-Z])")


def paraphrase(rng: random.Random, text: str) -> str:
    """The same content in other words: every sentence after the first in a new order, phrases swapped.
    ReCoRD's @highlight lines stay at the end."""
    body, sep, tail = text.partition("\n@highlight")
    sentences = _SENTENCE.split(body.strip())
    rest = sentences[1:]
    rng.shuffle(rest)
    out = " ".join([*sentences[:1], *rest])
    for pattern, repl in REWRITES:
        out = re.sub(pattern, repl, out, count=1)
    return out + sep + tail


def _setting(rng: random.Random) -> str:
    return " ".join(filter(None, (rng.choice(TOPICS), rng.choice(ASPECTS), rng.choice(ERAS))))


def _boolq(rng: random.Random) -> dict:
    passage = boolq.seed(rng, _setting(rng))
    fact = boolq.FACT.search(passage).groupdict()
    return {"question": boolq.question(fact, rng.random() < 0.5, rng), "passage": passage}


def _record(rng: random.Random) -> dict:
    passage = record.seed(rng, _setting(rng))
    sentence = rng.choice(record.body_sentences(passage))
    answer = (record.entities_in(sentence) or ["the passage"])[0]
    return {"passage": passage, "query": record._paraphrase(sentence, answer, rng)}


MAKERS = {"boolq": (boolq, _boolq), "record": (record, _record)}


def planted(task: str, distinct: int, copies: int, seed: int = 0) -> tuple[list[dict], dict[str, str]]:
    """`distinct` rows, then `copies` copies of each kind, each of a different distinct row.

    Rows are stage-4 shaped (id, split, corrected, instance JSON); ids sort the originals first, so the
    keep rule keeps them. Returns the rows and, for each copy, its kind."""
    rng = random.Random(seed)
    module, make = MAKERS[task]
    made = [make(rng) for _ in range(distinct)]
    rows = [{"id": f"a{k:06d}", "fields": f} for k, f in enumerate(made)]
    kinds = {}
    sources = rng.sample(range(distinct), copies * len(KINDS))
    for n, src in enumerate(sources):
        kind, fields = KINDS[n // copies], dict(made[src])
        if kind == "light edit":
            fields["passage"] = module.near_duplicate(rng, fields["passage"])
        elif kind == "paraphrase":
            fields = {name: paraphrase(rng, value) for name, value in fields.items()}
        rows.append({"id": f"b{n:06d}", "fields": fields})
        kinds[f"b{n:06d}"] = kind
    out = [{"id": r["id"], "split": "train", "corrected": False, "instance": json.dumps(r["fields"])} for r in rows]
    return out, kinds
