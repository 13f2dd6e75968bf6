"""CB premises: a two-turn dialogue, one clause under a committed frame ("I know that", "I don't think
that") and one under an uncertain frame ("I wonder whether")."""

from __future__ import annotations

import random
import re

from ...words import PEOPLE
from .relations import CONTRA, ENTAIL, NAME, NEUTRAL, RELATIONS, alt

VERBS = {"repaired": "repair", "sold": "sell", "painted": "paint", "bought": "buy", "visited": "visit"}
THINGS = ["old mill", "blue boat", "village hall", "north bridge", "family farm", "corner shop", "station clock"]
COMMITTED = {  # frame -> whether the speaker holds the embedded clause true
    "I know that": True,
    "I'm sure that": True,
    "It turned out that": True,
    "I don't think that": False,
    "I really doubt that": False,
}
UNCERTAIN = ["I wonder whether", "I'm not sure if", "Nobody knows whether"]
OPENERS = ["Have you heard anything new about", "What do people say about", "Did you follow the news on"]
CLAUSE = re.compile(rf"^(?P<person>{NAME}) (?:did not (?P<base>\w+)|(?P<past>\w+)) the (?P<thing>[a-z][a-z ]*?)\.?$")
FACT = re.compile(
    rf"B: (?P<cframe>{alt(COMMITTED)}) (?P<cclause>[^.]+)\. (?P<uframe>{alt(UNCERTAIN)}) (?P<uclause>[^.]+)\."
)


def _clause(person: str, verb: str, thing: str, positive: bool) -> str:
    return f"{person} {verb} the {thing}" if positive else f"{person} did not {VERBS[verb]} the {thing}"


def _proposition(clause: str) -> tuple[tuple[str, str, str], bool] | None:
    """(who, verb, what) and whether the clause asserts it."""
    m = CLAUSE.match(clause.strip())
    if not m:
        return None
    base = m["base"] or VERBS.get(m["past"])
    return (m["person"], base, m["thing"]), m["base"] is None


def seed(rng: random.Random, topic: str) -> str:
    (p1, p2), (v1, v2), (t1, t2) = rng.sample(PEOPLE, 2), rng.sample(list(VERBS), 2), rng.sample(THINGS, 2)
    frame = rng.choice(list(COMMITTED))
    positive = rng.random() < 0.7 or not COMMITTED[frame]  # no double negation under "I don't think"
    return (
        f"A: {rng.choice(OPENERS)} {topic}? B: {frame} {_clause(p1, v1, t1, positive)}. "
        f"{rng.choice(UNCERTAIN)} {_clause(p2, v2, t2, rng.random() < 0.7)}."
    )


def facts(m: re.Match) -> dict | None:
    committed, uncertain = _proposition(m["cclause"]), _proposition(m["uclause"])
    if committed is None or uncertain is None:
        return None
    (key, asserted), held = committed, COMMITTED[m["cframe"]]
    return {"key": key, "held": held == asserted, "open": uncertain[0], "clauses": (m["cclause"], m["uclause"])}


def hypothesis(f: dict, relation: str, rng: random.Random) -> str:
    who, verb, what = f["key"] if relation != NEUTRAL else f["open"]
    past = next(p for p, b in VERBS.items() if b == verb)
    if relation == NEUTRAL:
        return _clause(who, past, what, rng.random() < 0.7)
    return _clause(who, past, what, f["held"] if relation == ENTAIL else not f["held"])


def judge(f: dict, hypothesis: str) -> str | None:
    prop = _proposition(hypothesis)
    if prop is None:
        return None
    key, asserted = prop
    if key == f["key"]:
        return ENTAIL if asserted == f["held"] else CONTRA
    return NEUTRAL  # the uncertain clause, or anything the speaker is not committed to


WRITES = RELATIONS
