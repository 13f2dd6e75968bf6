"""Task-aware BoolQ answers. Passages state facts the fake can check again, so its generator can plant
wrong labels that its own evaluator then corrects, the way a strong judge catches a weak writer."""

from __future__ import annotations

import random
import re

from ..prompt import grab, target_label, verdict
from ..words import ADJECTIVES, FEATURES, FILLER, NOUNS, PEOPLE, PLACES

TASKS = ("boolq",)

FACT = re.compile(
    r"The (?P<name>[A-Z]\w+ \w+ of [A-Z][\w ]+?) was founded in (?P<year>\d{4}) "
    r"by (?P<person>[A-Z]\w+ [A-Z]\w+)\."
)


def seed(rng: random.Random, setting: str) -> str:
    name = f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)} of {rng.choice(PLACES)}"
    year, person = rng.randint(1650, 1990), rng.choice(PEOPLE)
    members = rng.randint(12, 4000)
    filler = " ".join(rng.sample(FILLER, 3))
    return (
        f"The {name} was founded in {year} by {person}. It grew out of an interest in {setting}. "
        f"By {year + rng.randint(5, 30)} it counted {members} members. {filler} "
        f"Today the {name.split(' of ')[0]} is best known for {rng.choice(FEATURES)}."
    )


def near_duplicate(rng: random.Random, text: str) -> str:
    """A light edit: one filler sentence swapped, so only a semantic filter catches it."""
    for sentence in FILLER:
        if sentence in text:
            return text.replace(sentence, rng.choice([s for s in FILLER if s not in text]), 1)
    return text + " It is still active."


def question(fact: dict, truth: bool, rng: random.Random) -> str:
    if rng.random() < 0.5:
        year = int(fact["year"]) if truth else int(fact["year"]) + rng.choice([-7, -3, 4, 11])
        return f"Was the {fact['name']} founded in {year}?"
    person = fact["person"] if truth else rng.choice([p for p in PEOPLE if p != fact["person"]])
    return f"Was the {fact['name']} founded by {person}?"


def truth_of(passage_text: str, question_text: str) -> bool | None:
    fact = FACT.search(passage_text)
    if not fact:
        return None
    if re.search(r"founded in (\d{4})", question_text):
        return fact["year"] in question_text
    if "founded by" in question_text:
        return fact["person"] in question_text
    return None


def generate(prompt: str, rng: random.Random, cfg, schema: dict) -> dict:
    labels = schema["properties"]["label"]["enum"]  # [false-ish, true-ish]
    text = grab(r"Passage:\n(.*?)\n\nRequired answer:", prompt)
    target = target_label(prompt, labels)
    fact = FACT.search(text)
    if not fact:
        return {"question": "Is the passage about history?", "label": target}
    truth = labels.index(target) == 1
    if rng.random() < cfg.wrong_label_rate:
        truth = not truth  # planted: the question's real answer is not the label it claims
    return {"question": question(fact.groupdict(), truth, rng), "label": target}


def correct(prompt: str, rng: random.Random, cfg, schema: dict) -> dict:
    labels = schema["properties"]["label"]["enum"]
    proposed = grab(r"Proposed answer: (\S+)", prompt).strip('".')
    truth = truth_of(grab(r"Passage:\n(.*?)\n\nQuestion:", prompt), grab(r"Question: ([^\n]*)", prompt))
    return verdict(labels, proposed, None if truth is None else labels[int(truth)], "The passage")
