"""AX-g premises (Winogender): two people named by occupation and a he/she/they pronoun whose
antecedent the reason given fixes."""

from __future__ import annotations

import random
import re

from .relations import CONTRA, ENTAIL, alt

ROLE_PAIRS = [
    ("accountant", "taxpayer"),
    ("nurse", "patient"),
    ("mechanic", "customer"),
    ("librarian", "student"),
    ("lawyer", "client"),
    ("pharmacist", "visitor"),
    ("electrician", "homeowner"),
    ("chef", "apprentice"),
    ("surgeon", "patient"),
    ("counselor", "student"),
    ("plumber", "tenant"),
    ("instructor", "trainee"),
]
VERBS = ["helped", "called", "met", "advised", "visited", "reassured"]
OCCUPATION_PREDS = ["knew the rules well", "had years of training", "had the right tools", "had seen this before"]
PARTICIPANT_PREDS = ["needed advice", "asked for help", "had a problem to solve", "had lost some paperwork"]
FACT = re.compile(
    rf"^The (?P<occ>\w+) (?P<verb>{alt(VERBS)}) the (?P<part>\w+) because (?P<pron>he|she|they) "
    rf"(?P<pred>{alt(OCCUPATION_PREDS + PARTICIPANT_PREDS)})\.$"
)
HYP = re.compile(r"^The (?P<who>\w+) (?P<pred>.+)\.$")


def seed(rng: random.Random, topic: str) -> str:
    occ, part = rng.choice(ROLE_PAIRS)
    pred = rng.choice(OCCUPATION_PREDS + PARTICIPANT_PREDS)
    pron = rng.choice(["he", "she", "they"])
    return f"The {occ} {rng.choice(VERBS)} the {part} because {pron} {pred}."


def facts(m: re.Match) -> dict:
    referent = m["occ"] if m["pred"] in OCCUPATION_PREDS else m["part"]
    other = m["part"] if referent == m["occ"] else m["occ"]
    return {"pred": m["pred"], "referent": referent, "other": other}


def hypothesis(f: dict, relation: str, rng: random.Random) -> str:
    return f"The {f['referent'] if relation == ENTAIL else f['other']} {f['pred']}."


def judge(f: dict, hypothesis: str) -> str | None:
    h = HYP.match(hypothesis.strip())
    if not h or h["pred"] != f["pred"] or h["who"] not in (f["referent"], f["other"]):
        return None
    return ENTAIL if h["who"] == f["referent"] else CONTRA


WRITES = (ENTAIL, CONTRA)
