"""RTE premises: a news passage with checkable facts (who, in which role, where, how many, which day)."""

from __future__ import annotations

import random
import re

from ...words import ADJECTIVES, FILLER, NOUNS, PEOPLE, PLACES
from .relations import CONTRA, DAYS, ENTAIL, NAME, NEUTRAL, RELATIONS, count_holds

ROLES = ["director", "treasurer", "chair", "secretary", "founder"]
FACT = re.compile(
    rf"(?P<person>{NAME}), the (?P<role>\w+) of the (?P<org>[A-Z]\w+ [A-Z]\w+ of [A-Z][\w ]+?), said on "
    rf"(?P<day>[A-Z]\w+) that the \w+ would open a new office in (?P<place>[A-Z][\w ]+?)\. "
    r"The office will employ (?P<n>\d+) people\."
)
CLAIMS = [
    (re.compile(rf"^(?P<person>{NAME}) is the (?P<role>\w+) of the (?P<org>.+)\.$"), "role"),
    (re.compile(r"^The (?P<org>.+) plans to open an office in (?P<place>[A-Z][\w ]+)\.$"), "place"),
    (re.compile(r"^The new office will employ (?P<q>more than \d+|fewer than \d+|\d+) people\.$"), "count"),
    (re.compile(r"^The announcement was made on (?P<day>[A-Z]\w+)\.$"), "day"),
    (re.compile(r"^The (?P<org>.+) was founded in (?P<year>\d{4})\.$"), "founded"),
]


def seed(rng: random.Random, topic: str) -> str:
    org = f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)} of {rng.choice(PLACES)}"
    short = org.split()[1]
    place = rng.choice([p for p in PLACES if p not in org])
    return (
        f"{rng.choice(PEOPLE)}, the {rng.choice(ROLES)} of the {org}, said on {rng.choice(DAYS)} that the "
        f"{short} would open a new office in {place}. The office will employ {rng.randint(4, 400)} people. "
        f"The plan follows years of work on {topic}. {rng.choice(FILLER)}"
    )


def _quantity(n: int, relation: str, rng: random.Random) -> str:
    if relation == ENTAIL:
        return rng.choice([str(n), f"more than {max(1, n - rng.randint(1, 3))}", f"fewer than {n + rng.randint(1, 9)}"])
    return rng.choice([str(n + rng.choice([-3, -1, 2, 5])), f"more than {n + rng.randint(1, 9)}", f"fewer than {n}"])


def hypothesis(f: dict, relation: str, rng: random.Random) -> str:
    org, n = f["org"], int(f["n"])
    if relation == NEUTRAL:  # a claim the passage neither makes nor rules out
        other = rng.choice([p for p in PLACES if p != f["place"]])
        return rng.choice(
            [f"The {org} was founded in {rng.randint(1700, 1990)}.", f"The {org} plans to open an office in {other}."]
        )
    kind = rng.choice(["role", "count", "day"] + (["place"] if relation == ENTAIL else []))
    if kind == "role":
        if relation == ENTAIL:
            return f"{f['person']} is the {f['role']} of the {org}."
        return f"{f['person']} is the {rng.choice([r for r in ROLES if r != f['role']])} of the {org}."
    if kind == "count":
        return f"The new office will employ {_quantity(n, relation, rng)} people."
    if kind == "day":
        day = f["day"] if relation == ENTAIL else rng.choice([d for d in DAYS if d != f["day"]])
        return f"The announcement was made on {day}."
    return f"The {org} plans to open an office in {f['place']}."


def judge(f: dict, hypothesis: str) -> str | None:
    for pattern, kind in CLAIMS:
        h = pattern.match(hypothesis)
        if not h:
            continue
        if kind == "count":
            return ENTAIL if count_holds(int(f["n"]), h["q"]) else CONTRA
        if kind == "founded":  # the passage never says when
            return NEUTRAL
        if kind in ("role", "place") and h["org"] != f["org"]:
            return NEUTRAL  # about another organisation
        if kind == "role":
            return ENTAIL if (h["person"], h["role"]) == (f["person"], f["role"]) else CONTRA
        if kind == "place":
            return ENTAIL if h["place"] == f["place"] else NEUTRAL
        return ENTAIL if h["day"] == f["day"] else CONTRA
    return None


def facts(m: re.Match) -> dict:
    return m.groupdict()


WRITES = RELATIONS
