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


# Sentence variants around the fact, so that distinct passages read differently (as a model's would):
# templated alike, they embed above the dedup threshold and look like near-duplicates of each other.
ORIGINS = [
    "It grew out of an interest in {setting}.",
    "Its first members shared a passion for {setting}.",
    "The idea came from a study circle devoted to {setting}.",
    "From the start its work centred on {setting}.",
    "Its early meetings dealt almost entirely with {setting}.",
]
GROWTH = [
    "By {later} it counted {members} members.",
    "Within {span} years its membership had passed {members}.",
    "Its rolls listed {members} names by {later}.",
    "Some {members} people had joined by {later}.",
]
EVENTS = [
    "In {event} a {disaster} forced it to move to {place}.",
    "A rival group from {place} tried to absorb it in {event}.",
    "Its journal first appeared in {event} and ran to {count} issues.",
    "Its first president was a {trade} from {place}.",
    "During a long dispute in {event} the members voted to sell their {asset}.",
    "A bequest from a {trade} in {event} paid for a {asset}.",
    "Its {count}th meeting, held in {place}, ended in a walkout over fees.",
    "Women were admitted as full members from {event}.",
]
DISASTERS = ["flood", "fire", "storm", "rent dispute", "cholera outbreak", "bank failure"]
TRADES = ["printer", "surveyor", "schoolteacher", "ship's chandler", "physician", "brewer", "watchmaker", "lawyer"]
ASSETS = ["meeting house", "reading room", "telescope", "printing press", "boat house", "lecture theatre"]
CLOSINGS = [
    "Today the {short} is best known for {feature}.",
    "It is remembered above all for {feature}.",
    "Visitors now come mainly for {feature}.",
    "Its reputation today rests on {feature}.",
]


MEMBERS = ["Weavers", "Printers", "Naturalists", "Engineers", "Mariners", "Musicians", "Astronomers", "Archivists"]


def seed(rng: random.Random, setting: str) -> str:
    name = f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)} of {rng.choice(MEMBERS)} of {rng.choice(PLACES)}"
    year, person = rng.randint(1650, 1990), rng.choice(PEOPLE)
    span = rng.randint(5, 30)
    slots = {
        "setting": setting,
        "later": year + span,
        "span": span,
        "members": rng.randint(12, 4000),
        "event": year + rng.randint(1, 40),
        "place": rng.choice([p for p in PLACES if p not in name]),
        "disaster": rng.choice(DISASTERS),
        "trade": rng.choice(TRADES),
        "asset": rng.choice(ASSETS),
        "count": rng.randint(20, 400),
        "short": name.split(" of ")[0],
        "feature": rng.choice(FEATURES),
    }
    middle = [rng.choice(GROWTH), *rng.sample(EVENTS, 2), rng.choice(FILLER)]
    rng.shuffle(middle)
    sentences = [rng.choice(ORIGINS), *middle, rng.choice(CLOSINGS)]
    return f"The {name} was founded in {year} by {person}. " + " ".join(s.format(**slots) for s in sentences)


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
