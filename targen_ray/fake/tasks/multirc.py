"""Task-aware MultiRC answers. Paragraphs state several facts (who, where, when, how many) across
sentences; questions link two of them, and a candidate answer is the fact (correct) or a plausible
wrong value, often one the paragraph states for something else (incorrect). The judge re-reads the
facts from the paragraph, so it catches exactly the answers planted with the wrong verdict."""

from __future__ import annotations

import random
import re

from ..prompt import grab, target_label, verdict
from ..words import ADJECTIVES, FEATURES, FILLER, NOUNS, PEOPLE, PLACES

TASKS = ("multirc",)

FACTS = re.compile(
    r"The (?P<org>[A-Z]\w+ [A-Z]\w+) was founded in (?P<place>[A-Z][\w ]+?) in (?P<year>\d{4}) "
    r"by (?P<founder>[A-Z]\w+ [A-Z]\w+)\..*?"
    r"In (?P<later>\d{4}) the leadership passed to (?P<successor>[A-Z]\w+ [A-Z]\w+)\. "
    r"By then it counted (?P<members>\d+) members\.",
    re.S,
)

# kind -> question template, over the paragraph's facts; each needs the sentence naming the founder or
# the year plus another one.
QUESTIONS = {
    "founder": "Who founded the organisation that {successor} came to lead in {later}?",
    "year": "In what year did {founder} found the {org}?",
    "place": "In which town did the person whom {successor} succeeded found the {org}?",
    "members": "How many members did the {org} have when {successor} took over its leadership?",
    "successor": "Who took over the {org} {gap} years after it was founded?",
}
KINDS = tuple(QUESTIONS)
KIND_OF = [
    (re.compile(r"^Who founded "), "founder"),
    (re.compile(r"^In what year did "), "year"),
    (re.compile(r"^In which town did "), "place"),
    (re.compile(r"^How many members "), "members"),
    (re.compile(r"^Who took over "), "successor"),
]
RIGHT_FORMS = ["{v}", "It was {v}.", "{v}, according to the paragraph", "The answer is {v}."]
WRONG_FORMS = ["{v}", "It was {v}.", "Probably {v}", "The answer is {v}."]


def seed(rng: random.Random, setting: str) -> str:
    org = f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}"
    founder, successor = rng.sample(PEOPLE, 2)
    year = rng.randint(1650, 1950)
    later = year + rng.randint(6, 40)
    filler = rng.sample(FILLER, 2)
    return (
        f"The {org} was founded in {rng.choice(PLACES)} in {year} by {founder}. "
        f"Its first meetings were devoted to {setting}. {filler[0]} "
        f"In {later} the leadership passed to {successor}. "
        f"By then it counted {rng.randint(12, 4000)} members. {filler[1]} "
        f"Today the {org} is best known for {rng.choice(FEATURES)}."
    )


def near_duplicate(rng: random.Random, text: str) -> str:
    """A light edit: one filler sentence swapped, so only a semantic filter catches it."""
    for sentence in FILLER:
        if sentence in text:
            return text.replace(sentence, rng.choice([s for s in FILLER if s not in text]), 1)
    return text + " It is still active."


def _wrong(kind: str, fact: dict, rng: random.Random) -> str:
    """A plausible wrong value: preferably one the paragraph states for something else."""
    if kind == "founder":
        return rng.choice([fact["successor"], rng.choice([p for p in PEOPLE if p != fact["founder"]])])
    if kind == "successor":
        return rng.choice([fact["founder"], rng.choice([p for p in PEOPLE if p != fact["successor"]])])
    if kind == "year":
        return rng.choice([fact["later"], str(int(fact["year"]) + rng.choice([-9, -3, 2, 7]))])
    if kind == "place":
        return rng.choice([p for p in PLACES if p != fact["place"]])
    members = int(fact["members"])
    return str(rng.choice([members + rng.randint(1, 90), max(1, members - rng.randint(1, 11)), members * 2]))


def _right(kind: str, fact: dict) -> str:
    return f"{fact['members']} members" if kind == "members" else fact[kind]


def instance(fact: dict, truth: bool, rng: random.Random) -> dict:
    kind = rng.choice(KINDS)
    gap = int(fact["later"]) - int(fact["year"])
    question = QUESTIONS[kind].format(gap=gap, **fact)
    value = _right(kind, fact) if truth else _wrong(kind, fact, rng)
    return {"question": question, "answer": rng.choice(RIGHT_FORMS if truth else WRONG_FORMS).format(v=value)}


def truth_of(paragraph: str, question: str, answer: str) -> bool | None:
    """Whether the candidate answer is correct, from the paragraph's facts; None if unreadable."""
    fact = FACTS.search(paragraph)
    kind = next((k for pattern, k in KIND_OF if pattern.search(question)), None)
    if not fact or kind is None:
        return None
    if kind == "members":
        return re.findall(r"\d+", answer) == [fact["members"]]
    if kind == "year":
        return re.findall(r"\d{4}", answer) == [fact["year"]]
    return fact[kind] in answer


def generate(prompt: str, rng: random.Random, cfg, schema: dict) -> dict:
    labels = schema["properties"]["label"]["enum"]  # [incorrect-ish, correct-ish]
    paragraph = grab(r"Paragraph:\n(.*?)\n\nRequired verdict:", prompt)
    target = target_label(prompt, labels, marker="Required verdict")
    fact = FACTS.search(paragraph)
    if not fact:
        return {"question": "What is the paragraph mainly about?", "answer": "A local organisation", "label": target}
    truth = labels.index(target) == len(labels) - 1
    if rng.random() < cfg.wrong_label_rate:
        truth = not truth  # planted: the answer's real verdict is not the label it claims
    return {**instance(fact.groupdict(), truth, rng), "label": target}


def correct(prompt: str, rng: random.Random, cfg, schema: dict) -> dict:
    labels = schema["properties"]["label"]["enum"]
    proposed = grab(r"Proposed verdict: (\S+)", prompt).strip('".')
    truth = truth_of(
        grab(r"Paragraph:\n(.*?)\n\nQuestion:", prompt),
        grab(r"Question: ([^\n]*)", prompt),
        grab(r"Candidate answer: ([^\n]*)", prompt),
    )
    return verdict(labels, proposed, None if truth is None else labels[int(truth)], "The paragraph")
