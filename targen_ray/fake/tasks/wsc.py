"""Task-aware WSC answers. Seeds are Winograd schemas from a small table: two candidates {a} and {b},
one pronoun, and a trigger phrase whose two variants make the pronoun refer to one candidate or the
other. The generator picks the referent (or, for a negative, the other candidate) as span1, and the
judge parses the schema back out of the text alone, so it catches exactly the planted wrong labels."""

from __future__ import annotations

import random
import re

from ..prompt import grab, target_label, verdict
from ..words import PLACES

TASKS = ("wsc",)

# (template, pronoun, candidates for {a}, candidates for {b}, {trigger: "a" or "b", ...})
SCHEMAS = [
    (
        "{a} didn't fit into {b} because it was too {t}.",
        "it",
        ["the trophy", "the statue", "the lamp"],
        ["the suitcase", "the crate", "the drawer"],
        {"big": "a", "small": "b"},
    ),
    (
        "{a} refused {b} a permit because they {t} violence.",
        "they",
        ["the councillors", "the town officials", "the village elders"],
        ["the protesters", "the marchers", "the strikers"],
        {"feared": "a", "advocated": "b"},
    ),
    (
        "{a} passed {b} on the hill road because it was going so {t}.",
        "it",
        ["the truck", "the bus", "the van"],
        ["the tractor", "the cart", "the bicycle"],
        {"fast": "a", "slowly": "b"},
    ),
    (
        "{a} sank into {b} because it was so {t}.",
        "it",
        ["the anvil", "the stone block", "the old safe"],
        ["the mud", "the sand", "the snow"],
        {"heavy": "a", "soft": "b"},
    ),
    (
        "{a} hid under {b} because it was {t}.",
        "it",
        ["the cat", "the puppy", "the fox"],
        ["the sofa", "the table", "the wagon"],
        {"frightened": "a", "wide enough": "b"},
    ),
    (
        "{a} lent money to {b} because they were {t}.",
        "they",
        ["the bankers", "the merchants", "the landlords"],
        ["the farmers", "the sailors", "the weavers"],
        {"rich": "a", "broke": "b"},
    ),
    (
        "{a} could not cut {b} because it was too {t}.",
        "it",
        ["the knife", "the saw", "the axe"],
        ["the rope", "the log", "the branch"],
        {"blunt": "a", "thick": "b"},
    ),
    (
        "{a} beat {b} at chess because he was {t}.",
        "he",
        ["the grandfather", "the baker", "the old sailor"],
        ["the schoolboy", "the carpenter", "the young clerk"],
        {"the stronger player": "a", "tired": "b"},
    ),
    (
        "{a} scolded {b} because she was {t}.",
        "she",
        ["the teacher", "the head nurse", "the governess"],
        ["the girl", "the maid", "the young typist"],
        {"angry": "a", "rude": "b"},
    ),
    (
        "someone poured water from {a} into {b} until it was {t}.",
        "it",
        ["the jug", "the bottle", "the kettle"],
        ["the bucket", "the basin", "the flask"],
        {"empty": "a", "full": "b"},
    ),
    (
        "{a} thanked {b} because they had {t}.",
        "they",
        ["the villagers", "the guests", "the pupils"],
        ["the firefighters", "the hosts", "the teachers"],
        {"been rescued": "a", "helped so much": "b"},
    ),
    (
        "{a} was hidden behind {b} because it was so {t}.",
        "it",
        ["the cottage", "the shed", "the barn"],
        ["the oak tree", "the hedge", "the church"],
        {"small": "a", "large": "b"},
    ),
]
PREFIXES = ["In {place}, ", "Last week in {place}, ", "One morning in {place}, "]


def _pattern(template: str, schema: tuple) -> re.Pattern:
    _, _, a_list, b_list, triggers = schema
    text = re.escape(template)
    for slot, options in (("a", a_list), ("b", b_list), ("t", list(triggers))):
        group = "(?P<" + slot + ">" + "|".join(re.escape(o) for o in options) + ")"
        text = text.replace(re.escape("{" + slot + "}"), group)
    return re.compile(r"^(?:In|Last week in|One morning in) [A-Z][\w ]+, " + text + "$")


PATTERNS = [_pattern(s[0], s) for s in SCHEMAS]


def seed(rng: random.Random, setting: str) -> str:
    template, _, a_list, b_list, triggers = rng.choice(SCHEMAS)
    body = template.format(a=rng.choice(a_list), b=rng.choice(b_list), t=rng.choice(sorted(triggers)))
    return rng.choice(PREFIXES).format(place=rng.choice(PLACES)) + body


def near_duplicate(rng: random.Random, text: str) -> str:
    """A light edit: the same sentence in another town."""
    m = re.match(r"(?:In|Last week in|One morning in) ([A-Z][\w ]+), ", text)
    if not m:
        return "Once, " + text
    return text.replace(m.group(1), rng.choice([p for p in PLACES if p != m.group(1)]), 1)


def parse(text: str) -> dict | None:
    """{referent, other, pronoun} of a text the fake wrote, or None."""
    for schema, pattern in zip(SCHEMAS, PATTERNS, strict=True):
        m = pattern.match(text.strip())
        if m:
            side = schema[4][m["t"]]
            other = "b" if side == "a" else "a"
            return {"referent": m[side], "other": m[other], "pronoun": schema[1]}
    return None


def refers(text: str, span1: str, span2: str) -> bool | None:
    """Whether the pronoun span2 refers to span1, from the text alone."""
    schema = parse(text)
    if schema is None or span2.lower() != schema["pronoun"]:
        return None
    return span1.lower() == schema["referent"]


def generate(prompt: str, rng: random.Random, cfg, schema: dict) -> dict:
    labels = schema["properties"]["label"]["enum"]  # [no, yes]
    text = grab(r"Sentence:\n(.*?)\n\nRequired answer:", prompt)
    target = target_label(prompt, labels)
    found = parse(text)
    if found is None:
        words = text.split() or ["it"]
        return {
            "span1_text": words[0],
            "span1_occurrence": 1,
            "span2_text": "it",
            "span2_occurrence": 1,
            "label": target,
        }
    truth = labels.index(target) == 1
    if rng.random() < cfg.wrong_label_rate:
        truth = not truth  # planted: span1 is not what the claimed label says
    span1 = found["referent"] if truth else found["other"]
    return {
        "span1_text": span1,
        "span1_occurrence": 1,
        "span2_text": found["pronoun"],
        "span2_occurrence": 1,
        "label": target,
    }


def correct(prompt: str, rng: random.Random, cfg, schema: dict) -> dict:
    labels = schema["properties"]["label"]["enum"]
    proposed = grab(r"Proposed answer: (\S+)", prompt).strip('".')
    truth = refers(
        grab(r"Text: ([^\n]*)", prompt),
        grab(r"Noun phrase \(span1\): (.*?) \(word", prompt),
        grab(r"Pronoun \(span2\): (.*?) \(word", prompt),
    )
    return verdict(labels, proposed, None if truth is None else labels[int(truth)], "The situation")
