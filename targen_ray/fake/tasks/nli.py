"""Task-aware answers for the entailment family (CB, RTE, AX-b, AX-g).

Every premise is written from a small grammar the fake can parse again, one style per task:
RTE a news passage with checkable facts (who, where, how many), CB a two-turn dialogue with one
clause embedded under a committed frame ("I know that", "I don't think that") and one under an
uncertain frame ("I wonder whether"), AX-b one plain sentence that the hypothesis edits by a single
phenomenon (negation, a quantifier, a hypernym, a dropped or changed modifier), AX-g one sentence
with two people named by occupation and a he/she/they pronoun whose antecedent is fixed by the
reason given. The judge re-derives the relation from premise and hypothesis alone, so it corrects
exactly the labels the generator planted wrong.

The seed step only sees the setting, so each task's seeds.j2 ends its Setting line with a phrase
(`CUES`) that tells the fake which style to write; a real model reads it as a plain instruction.
"""

from __future__ import annotations

import random
import re

from ..prompt import grab, target_label, verdict
from ..words import ADJECTIVES, FILLER, NOUNS, PEOPLE, PLACES

TASKS = ("cb", "rte", "axb", "axg")

ENTAIL, CONTRA, NEUTRAL = "entailment", "contradiction", "neutral"
RELATIONS = (ENTAIL, CONTRA, NEUTRAL)

# The end of the Setting line in prompts/<task>/seeds.j2 -> the premise style.
CUES = {
    "in conversation": "cb",
    "in the news": "rte",
    "in one plain sentence": "axb",
    "between two people at work": "axg",
}

DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
NAME = r"[A-Z]\w+ [A-Z]\w+"


def _alt(words) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


def _label(labels: list[str], relation: str) -> str:
    """The label word a relation has in this label space (2-way folds contradiction and neutral)."""
    if len(labels) >= 3:
        return labels[RELATIONS.index(relation)]
    return labels[0] if relation == ENTAIL else labels[-1]


def _relation(labels: list[str], target: str, rng: random.Random) -> str:
    i = labels.index(target)
    if i == 0:
        return ENTAIL
    return RELATIONS[i] if len(labels) >= 3 else rng.choice((CONTRA, NEUTRAL))


# -- RTE: a news passage ---------------------------------------------------------------------------
ROLES = ["director", "treasurer", "chair", "secretary", "founder"]
RTE_FACT = re.compile(
    rf"(?P<person>{NAME}), the (?P<role>\w+) of the (?P<org>[A-Z]\w+ [A-Z]\w+ of [A-Z][\w ]+?), said on "
    rf"(?P<day>[A-Z]\w+) that the \w+ would open a new office in (?P<place>[A-Z][\w ]+?)\. "
    r"The office will employ (?P<n>\d+) people\."
)
RTE_CLAIMS = [
    (re.compile(rf"^(?P<person>{NAME}) is the (?P<role>\w+) of the (?P<org>.+)\.$"), "role"),
    (re.compile(r"^The (?P<org>.+) plans to open an office in (?P<place>[A-Z][\w ]+)\.$"), "place"),
    (re.compile(r"^The new office will employ (?P<q>more than \d+|fewer than \d+|\d+) people\.$"), "count"),
    (re.compile(r"^The announcement was made on (?P<day>[A-Z]\w+)\.$"), "day"),
    (re.compile(r"^The (?P<org>.+) was founded in (?P<year>\d{4})\.$"), "founded"),
]


def _rte_seed(rng: random.Random, topic: str) -> str:
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


def _rte_hypothesis(f: dict, relation: str, rng: random.Random) -> str:
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


def _count_holds(n: int, q: str) -> bool:
    m = int(q.split()[-1])
    return n > m if q.startswith("more") else n < m if q.startswith("fewer") else n == m


def _rte_judge(f: dict, hypothesis: str) -> str | None:
    for pattern, kind in RTE_CLAIMS:
        h = pattern.match(hypothesis)
        if not h:
            continue
        if kind == "count":
            return ENTAIL if _count_holds(int(f["n"]), h["q"]) else CONTRA
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


# -- CB: a dialogue with embedded clauses ----------------------------------------------------------
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
CB_FACT = re.compile(
    rf"B: (?P<cframe>{_alt(COMMITTED)}) (?P<cclause>[^.]+)\. (?P<uframe>{_alt(UNCERTAIN)}) (?P<uclause>[^.]+)\."
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


def _cb_seed(rng: random.Random, topic: str) -> str:
    (p1, p2), (v1, v2), (t1, t2) = rng.sample(PEOPLE, 2), rng.sample(list(VERBS), 2), rng.sample(THINGS, 2)
    frame = rng.choice(list(COMMITTED))
    positive = rng.random() < 0.7 or not COMMITTED[frame]  # no double negation under "I don't think"
    return (
        f"A: {rng.choice(OPENERS)} {topic}? B: {frame} {_clause(p1, v1, t1, positive)}. "
        f"{rng.choice(UNCERTAIN)} {_clause(p2, v2, t2, rng.random() < 0.7)}."
    )


def _cb_facts(m: re.Match) -> dict | None:
    committed, uncertain = _proposition(m["cclause"]), _proposition(m["uclause"])
    if committed is None or uncertain is None:
        return None
    (key, asserted), held = committed, COMMITTED[m["cframe"]]
    return {"key": key, "held": held == asserted, "open": uncertain[0], "clauses": (m["cclause"], m["uclause"])}


def _cb_hypothesis(f: dict, relation: str, rng: random.Random) -> str:
    who, verb, what = f["key"] if relation != NEUTRAL else f["open"]
    past = next(p for p, b in VERBS.items() if b == verb)
    if relation == NEUTRAL:
        return _clause(who, past, what, rng.random() < 0.7)
    return _clause(who, past, what, f["held"] if relation == ENTAIL else not f["held"])


def _cb_judge(f: dict, hypothesis: str) -> str | None:
    prop = _proposition(hypothesis)
    if prop is None:
        return None
    key, asserted = prop
    if key == f["key"]:
        return ENTAIL if asserted == f["held"] else CONTRA
    return NEUTRAL  # the uncertain clause, or anything the speaker is not committed to


# -- AX-b: one sentence and a one-phenomenon edit -------------------------------------------------
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
AXB_ADJ = ["red", "small", "old", "heavy", "cheap", "rare"]
AXB_VERBS = {
    "sold": "sell",
    "bought": "buy",
    "painted": "paint",
    "carried": "carry",
    "photographed": "photograph",
    "counted": "count",
}
AXB = re.compile(
    rf"^(?P<subj>Someone|{NAME}) (?:did not (?P<base>\w+)|(?P<past>\w+)) "
    r"(?P<q>more than \d+|fewer than \d+|at least \d+|\d+|some|all the) "
    rf"(?:(?P<adj>{_alt(AXB_ADJ)}) )?(?P<noun>\w+)"
    r"(?: at the (?P<place>[A-Z][\w ]*?) market)?(?: on (?P<day>[A-Z]\w+))?\.$"
)
AXB_ENTAIL = ["hypernym", "drop_adj", "more_than", "at_least", "someone", "drop_place", "drop_day", "some"]
AXB_NOT = ["negation", "more_than", "fewer_than", "other_adj", "other_place", "other_day", "other_person", "all"]


def _axb_seed(rng: random.Random, topic: str) -> str:
    return _axb_render(
        {
            "subj": rng.choice(PEOPLE),
            "neg": False,
            "verb": rng.choice(list(AXB_VERBS)),
            "q": str(rng.randint(3, 60)),
            "adj": rng.choice(AXB_ADJ),
            "noun": rng.choice(list(HYPERNYMS)),
            "place": rng.choice(PLACES),
            "day": rng.choice(DAYS),
        }
    )


def _axb_parse(text: str) -> dict | None:
    m = AXB.match(text.strip())
    if not m:
        return None
    verb = m["past"] or next((p for p, b in AXB_VERBS.items() if b == m["base"]), m["base"])
    return {**m.groupdict(), "neg": m["base"] is not None, "verb": verb}


def _axb_render(f: dict) -> str:
    verb = f"did not {AXB_VERBS[f['verb']]}" if f["neg"] else f["verb"]
    text = f"{f['subj']} {verb} {f['q']} " + (f"{f['adj']} " if f["adj"] else "") + f["noun"]
    text += f" at the {f['place']} market" if f["place"] else ""
    return text + (f" on {f['day']}" if f["day"] else "") + "."


def _axb_hypothesis(f: dict, relation: str, rng: random.Random) -> str:
    h, n = dict(f), int(f["q"])
    op = rng.choice(AXB_ENTAIL if relation == ENTAIL else AXB_NOT)
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
        h["adj"] = rng.choice([a for a in AXB_ADJ if a != f["adj"]])
    elif op == "other_place":
        h["place"] = rng.choice([p for p in PLACES if p != f["place"]])
    elif op == "other_day":
        h["day"] = rng.choice([d for d in DAYS if d != f["day"]])
    elif op == "other_person":
        h["subj"] = rng.choice([p for p in PEOPLE if p != f["subj"]])
    else:  # "all": the sentence gives a number, not the whole stock
        h["q"] = "all the"
    return _axb_render(h)


def _quantity_holds(n: int, q: str) -> bool:
    """Does "q nouns" follow from "n nouns"? ("all the" never does: the sentence gives a number.)"""
    if q in ("some", "all the"):
        return q == "some"
    if q.startswith("at least"):
        return n >= int(q.split()[-1])
    return _count_holds(n, q)


def _axb_judge(f: dict, hypothesis: str) -> str | None:
    h = _axb_parse(hypothesis)
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


# -- AX-g: Winogender, an occupation, a participant and a pronoun ------------------------------------
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
AXG_VERBS = ["helped", "called", "met", "advised", "visited", "reassured"]
OCCUPATION_PREDS = ["knew the rules well", "had years of training", "had the right tools", "had seen this before"]
PARTICIPANT_PREDS = ["needed advice", "asked for help", "had a problem to solve", "had lost some paperwork"]
AXG_FACT = re.compile(
    rf"^The (?P<occ>\w+) (?P<verb>{_alt(AXG_VERBS)}) the (?P<part>\w+) because (?P<pron>he|she|they) "
    rf"(?P<pred>{_alt(OCCUPATION_PREDS + PARTICIPANT_PREDS)})\.$"
)
AXG_HYP = re.compile(r"^The (?P<who>\w+) (?P<pred>.+)\.$")


def _axg_seed(rng: random.Random, topic: str) -> str:
    occ, part = rng.choice(ROLE_PAIRS)
    pred = rng.choice(OCCUPATION_PREDS + PARTICIPANT_PREDS)
    pron = rng.choice(["he", "she", "they"])
    return f"The {occ} {rng.choice(AXG_VERBS)} the {part} because {pron} {pred}."


def _axg_facts(m: re.Match) -> dict:
    referent = m["occ"] if m["pred"] in OCCUPATION_PREDS else m["part"]
    other = m["part"] if referent == m["occ"] else m["occ"]
    return {"pred": m["pred"], "referent": referent, "other": other}


def _axg_hypothesis(f: dict, relation: str, rng: random.Random) -> str:
    return f"The {f['referent'] if relation == ENTAIL else f['other']} {f['pred']}."


def _axg_judge(f: dict, hypothesis: str) -> str | None:
    h = AXG_HYP.match(hypothesis.strip())
    if not h or h["pred"] != f["pred"] or h["who"] not in (f["referent"], f["other"]):
        return None
    return ENTAIL if h["who"] == f["referent"] else CONTRA


# -- dispatch -------------------------------------------------------------------------------------
# style -> (premise pattern, facts from its match, seed writer, hypothesis writer, judge, relations it writes)
STYLES = {
    "rte": (RTE_FACT, lambda m: m.groupdict(), _rte_seed, _rte_hypothesis, _rte_judge, RELATIONS),
    "cb": (CB_FACT, _cb_facts, _cb_seed, _cb_hypothesis, _cb_judge, RELATIONS),
    "axb": (AXB, lambda m: _axb_parse(m.group(0)), _axb_seed, _axb_hypothesis, _axb_judge, RELATIONS),
    "axg": (AXG_FACT, _axg_facts, _axg_seed, _axg_hypothesis, _axg_judge, (ENTAIL, CONTRA)),
}


def _style_of(setting: str) -> tuple[str, str]:
    """(style, topic) from the Setting line of a seeds prompt."""
    for cue, style in CUES.items():
        if setting.endswith(cue):
            return style, setting[: -len(cue)].rstrip(" ,;:-") or "local affairs"
    return "rte", setting or "local affairs"


def _parse(premise: str) -> tuple[str, dict] | None:
    """The premise's style and facts, if the fake wrote it."""
    for style, (pattern, facts, *_rest) in STYLES.items():
        m = pattern.search(premise.strip())
        if m:
            parsed = facts(m)
            if parsed is not None:
                return style, parsed
    return None


def relation_of(premise: str, hypothesis: str) -> str | None:
    """What the fake judge reads from a pair: entailment, contradiction, neutral, or None (not its grammar)."""
    parsed = _parse(premise)
    if parsed is None:
        return None
    style, facts = parsed
    return STYLES[style][4](facts, hypothesis.strip())


def label_of(labels: list[str], premise: str, hypothesis: str) -> str | None:
    relation = relation_of(premise, hypothesis)
    return None if relation is None else _label(labels, relation)


def seed(rng: random.Random, setting: str) -> str:
    style, topic = _style_of(setting)
    return STYLES[style][2](rng, topic)


def near_duplicate(rng: random.Random, text: str) -> str:
    """A light edit: another dialogue opener, filler sentence or day, or the AX-g minimal pair."""
    swaps = [(" he ", " she "), (" she ", " they "), (" they ", " he ")]
    swaps += [(a, b) for a in OPENERS for b in OPENERS if a != b]
    swaps += [(a, b) for a in FILLER for b in FILLER if a != b]
    swaps += [(f" on {a}.", f" on {b}.") for a in DAYS for b in DAYS if a != b]
    for old, new in rng.sample(swaps, len(swaps)):
        if old in text:
            return text.replace(old, new, 1)
    return text + " That is all."


def generate(prompt: str, rng: random.Random, cfg, schema: dict) -> dict:
    labels = schema["properties"]["label"]["enum"]
    premise = grab(r"(?:Premise|Sentence 1):\n(.*?)\n\nRequired label:", prompt)
    target = target_label(prompt, labels, marker="Required label")
    parsed = _parse(premise)
    if parsed is None:
        return {"hypothesis": "The text describes events in a small town.", "label": target}
    style, facts = parsed
    writes = STYLES[style][5]
    relation = _relation(labels, target, rng)
    if relation not in writes:
        relation = CONTRA
    if rng.random() < cfg.wrong_label_rate:  # planted: the hypothesis' real relation has another label
        relation = rng.choice([r for r in writes if _label(labels, r) != target])
    return {"hypothesis": STYLES[style][3](facts, relation, rng), "label": target}


def correct(prompt: str, rng: random.Random, cfg, schema: dict) -> dict:
    labels = schema["properties"]["label"]["enum"]
    proposed = grab(r"Proposed label: (\S+)", prompt).strip('".')
    premise = grab(r"(?:Premise|Sentence 1):\n(.*?)\n\n(?:Hypothesis|Sentence 2):", prompt)
    hypothesis = grab(r"(?:Hypothesis|Sentence 2): ([^\n]*)", prompt)
    return verdict(labels, proposed, label_of(labels, premise, hypothesis), "Read against the premise, the hypothesis")
