"""AX-b premises: one plain sentence that the hypothesis edits by a single phenomenon (negation, a
quantifier, a hypernym, a dropped or changed modifier)."""

from __future__ import annotations

import random
import re

from ...words import PEOPLE, PLACES
from .relations import CONTRA, DAYS, ENTAIL, NAME, NEUTRAL, RELATIONS, alt, count_holds

HYPERNYMS = {
    "roses": "flowers",
    "tulips": "flowers",
    "oaks": "trees",
    "pines": "trees",
    "violins": "instruments",
    "hammers": "tools",
    "sparrows": "birds",
    "novels": "books",
    "trucks": "vehicles",
}
ADJ = ["red", "small", "old", "heavy", "cheap", "rare"]
VERBS = {
    "sold": "sell",
    "bought": "buy",
    "painted": "paint",
    "carried": "carry",
    "photographed": "photograph",
    "counted": "count",
}
FACT = re.compile(
    rf"^(?P<subj>Someone|{NAME}) (?:did not (?P<base>\w+)|(?P<past>\w+)) "
    r"(?P<q>more than \d+|fewer than \d+|at least \d+|\d+|some|all the) "
    rf"(?:(?P<adj>{alt(ADJ)}) )?(?P<noun>\w+)"
    r"(?: at the (?P<place>[A-Z][\w ]*?) market)?(?: on (?P<day>[A-Z]\w+))?\.$"
)
EDITS_ENTAIL = ["hypernym", "drop_adj", "more_than", "at_least", "someone", "drop_place", "drop_day", "some"]
EDITS_NOT = ["negation", "more_than", "fewer_than", "other_adj", "other_place", "other_day", "other_person", "all"]


def seed(rng: random.Random, topic: str) -> str:
    return render(
        {
            "subj": rng.choice(PEOPLE),
            "neg": False,
            "verb": rng.choice(list(VERBS)),
            "q": str(rng.randint(3, 60)),
            "adj": rng.choice(ADJ),
            "noun": rng.choice(list(HYPERNYMS)),
            "place": rng.choice(PLACES),
            "day": rng.choice(DAYS),
        }
    )


def parse(text: str) -> dict | None:
    m = FACT.match(text.strip())
    if not m:
        return None
    verb = m["past"] or next((p for p, b in VERBS.items() if b == m["base"]), m["base"])
    return {**m.groupdict(), "neg": m["base"] is not None, "verb": verb}


def render(f: dict) -> str:
    verb = f"did not {VERBS[f['verb']]}" if f["neg"] else f["verb"]
    text = f"{f['subj']} {verb} {f['q']} " + (f"{f['adj']} " if f["adj"] else "") + f["noun"]
    text += f" at the {f['place']} market" if f["place"] else ""
    return text + (f" on {f['day']}" if f["day"] else "") + "."


def hypothesis(f: dict, relation: str, rng: random.Random) -> str:
    h, n = dict(f), int(f["q"])
    op = rng.choice(EDITS_ENTAIL if relation == ENTAIL else EDITS_NOT)
    if op == "hypernym":
        h["noun"] = HYPERNYMS[f["noun"]]
    elif op in ("drop_adj", "drop_place", "drop_day"):
        h[op[5:]] = None
    elif op == "more_than":
        h["q"] = f"more than {n - rng.randint(1, 2) if relation == ENTAIL else n + rng.randint(0, 5)}"
    elif op == "at_least":
        h["q"] = f"at least {n - rng.randint(0, 2)}"
    elif op == "fewer_than":
        h["q"] = f"fewer than {n - rng.randint(0, 2)}"
    elif op == "someone":
        h["subj"] = "Someone"
    elif op == "some":
        h["q"] = "some"
    elif op == "negation":
        h["neg"] = True
    elif op == "other_adj":
        h["adj"] = rng.choice([a for a in ADJ if a != f["adj"]])
    elif op == "other_place":
        h["place"] = rng.choice([p for p in PLACES if p != f["place"]])
    elif op == "other_day":
        h["day"] = rng.choice([d for d in DAYS if d != f["day"]])
    elif op == "other_person":
        h["subj"] = rng.choice([p for p in PEOPLE if p != f["subj"]])
    else:  # "all": the sentence gives a number, not the whole stock
        h["q"] = "all the"
    return render(h)


def _quantity_holds(n: int, q: str) -> bool:
    """Does "q nouns" follow from "n nouns"? ("all the" never does: the sentence gives a number.)"""
    if q in ("some", "all the"):
        return q == "some"
    if q.startswith("at least"):
        return n >= int(q.split()[-1])
    return count_holds(n, q)


def judge(f: dict, hypothesis: str) -> str | None:
    h = parse(hypothesis)
    if h is None:
        return None
    holds = (
        h["subj"] in ("Someone", f["subj"])
        and h["verb"] == f["verb"]
        and _quantity_holds(int(f["q"]), h["q"])
        and h["noun"] in (f["noun"], HYPERNYMS.get(f["noun"]))
        and h["adj"] in (None, f["adj"])
        and h["place"] in (None, f["place"])
        and h["day"] in (None, f["day"])
    )
    if h["neg"]:
        return CONTRA if holds else NEUTRAL
    return ENTAIL if holds else NEUTRAL


def facts(m: re.Match) -> dict | None:
    return parse(m.group(0))


WRITES = RELATIONS
