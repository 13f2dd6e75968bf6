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

from ...prompt import grab, target_label, verdict
from ...words import FILLER
from . import axb, axg, cb, rte
from .relations import CONTRA, DAYS, ENTAIL, NEUTRAL, RELATIONS

TASKS = ("cb", "rte", "axb", "axg")

# The end of the Setting line in prompts/<task>/seeds.j2 -> the premise style.
CUES = {
    "in conversation": "cb",
    "in the news": "rte",
    "in one plain sentence": "axb",
    "between two people at work": "axg",
}


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


# The premise styles: each module has FACT (the premise pattern), facts(match), seed(rng, topic),
# hypothesis(facts, relation, rng), judge(facts, hypothesis) and WRITES (the relations it writes).
STYLES = {"rte": rte, "cb": cb, "axb": axb, "axg": axg}


def _style_of(setting: str) -> tuple[str, str]:
    """(style, topic) from the Setting line of a seeds prompt."""
    for cue, style in CUES.items():
        if setting.endswith(cue):
            return style, setting[: -len(cue)].rstrip(" ,;:-") or "local affairs"
    return "rte", setting or "local affairs"


def _parse(premise: str) -> tuple[str, dict] | None:
    """The premise's style and facts, if the fake wrote it."""
    for style, module in STYLES.items():
        m = module.FACT.search(premise.strip())
        if m:
            parsed = module.facts(m)
            if parsed is not None:
                return style, parsed
    return None


def relation_of(premise: str, hypothesis: str) -> str | None:
    """What the fake judge reads from a pair: entailment, contradiction, neutral, or None (not its grammar)."""
    parsed = _parse(premise)
    if parsed is None:
        return None
    style, facts = parsed
    return STYLES[style].judge(facts, hypothesis.strip())


def label_of(labels: list[str], premise: str, hypothesis: str) -> str | None:
    relation = relation_of(premise, hypothesis)
    return None if relation is None else _label(labels, relation)


def seed(rng: random.Random, setting: str) -> str:
    style, topic = _style_of(setting)
    return STYLES[style].seed(rng, topic)


def near_duplicate(rng: random.Random, text: str) -> str:
    """A light edit: another dialogue opener, filler sentence or day, or the AX-g minimal pair."""
    swaps = [(" he ", " she "), (" she ", " they "), (" they ", " he ")]
    swaps += [(a, b) for a in cb.OPENERS for b in cb.OPENERS if a != b]
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
    # The field step 3 writes: `hypothesis`, or AX-b's `sentence2`.
    key = next((k for k in schema["properties"] if k != "label"), "hypothesis")
    if parsed is None:
        return {key: "The text describes events in a small town.", "label": target}
    style, facts = parsed
    writes = STYLES[style].WRITES
    relation = _relation(labels, target, rng)
    if relation not in writes:
        relation = CONTRA
    if rng.random() < cfg.wrong_label_rate:  # planted: the hypothesis' real relation has another label
        relation = rng.choice([r for r in writes if _label(labels, r) != target])
    return {key: STYLES[style].hypothesis(facts, relation, rng), "label": target}


def correct(prompt: str, rng: random.Random, cfg, schema: dict) -> dict:
    labels = schema["properties"]["label"]["enum"]
    proposed = grab(r"Proposed label: (\S+)", prompt).strip('".')
    premise = grab(r"(?:Premise|Sentence 1):\n(.*?)\n\n(?:Hypothesis|Sentence 2):", prompt)
    hypothesis = grab(r"(?:Hypothesis|Sentence 2): ([^\n]*)", prompt)
    return verdict(labels, proposed, label_of(labels, premise, hypothesis), "Read against the premise, the hypothesis")
