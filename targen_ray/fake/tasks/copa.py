"""Task-aware COPA answers. Premises are everyday events from a small table that knows each event's
cause and effect, so the generator writes the right alternative and a distractor (the event's other
side, the classic COPA trap, or another event's cause or effect), and the judge finds the event again
from the premise and checks which alternative is the right one: it catches exactly the planted swaps."""

from __future__ import annotations

import random
import re

from ..prompt import grab, target_label, verdict
from ..words import PEOPLE, PLACES

TASKS = ("copa",)

# (premise after "In <place>, ", cause, effect); {N} is a full name, {n} the first name. Half the premises
# have an odd length, so that the generate prompt's cause/effect rule (length parity) splits them evenly.
EVENTS = [
    ("{N} slipped on the kitchen floor.", "The floor had just been mopped.", "{n} bruised an elbow."),
    ("{N}'s kettle began to whistle.", "The water came to the boil.", "{n} took the kettle off the stove."),
    ("{N} missed the morning train.", "{n} overslept.", "{n} arrived late for work."),
    ("{N}'s garden flooded.", "It rained all night.", "The seedlings rotted."),
    ("{N} put on a heavy coat.", "The weather turned cold.", "{n} stayed warm outside."),
    ("{N}'s phone battery died.", "{n} forgot to charge the phone.", "{n} could not call home."),
    ("{N} laughed aloud.", "A friend told a joke.", "The others in the room looked up."),
    ("{N} lost the house keys.", "There was a hole in {n}'s pocket.", "{n} called a locksmith."),
    ("{N} got a sunburn.", "{n} spent the afternoon on the beach.", "{n} put lotion on the skin."),
    ("{N} fell asleep at the desk.", "{n} had worked all night.", "{n} woke up with a stiff neck."),
    ("{N}'s bread came out burnt.", "The oven was set too hot.", "{n} threw the loaf away."),
    ("{N} won the chess contest.", "{n} practised every evening.", "{n} received a small trophy."),
    ("{N}'s bicycle tyre went flat.", "{n} rode over broken glass.", "{n} pushed the bicycle home."),
    ("{N} sneezed several times.", "The room was full of dust.", "Someone offered {n} a tissue."),
    ("{N}'s shirt shrank in the wash.", "The water was too hot.", "{n} gave the shirt away."),
    ("{N} spilled coffee on the desk.", "The cup was filled to the brim.", "The papers got stained."),
    ("{N}'s flat lost power.", "A storm knocked down a power line.", "{n} lit some candles."),
    ("{N} was late for the concert.", "The bus broke down.", "{n} missed the first song."),
    ("{N}'s dog barked at the door.", "A stranger knocked.", "The neighbours woke up."),
    ("{N} took the umbrella.", "Dark clouds were gathering.", "{n} stayed dry in the rain."),
    ("{N} felt dizzy.", "{n} had skipped lunch.", "{n} sat down on a bench."),
    ("{N}'s ice cream melted.", "The sun was very hot.", "{n} got sticky fingers."),
    ("{N} apologised to a neighbour.", "{n} had played music too loudly.", "The neighbour forgave {n}."),
    ("{N} bought some new boots.", "The old pair had worn through.", "{n} wore the boots to the market."),
]
NAME = r"(?P<N>[A-Z][\w-]+ [A-Z][\w-]+)"
PATTERNS = [
    re.compile(r"^In (?P<place>[A-Z][\w ]+), " + re.escape(premise).replace(re.escape("{N}"), NAME) + "$")
    for premise, _, _ in EVENTS
]


def seed(rng: random.Random, setting: str) -> str:
    premise, _, _ = rng.choice(EVENTS)
    return f"In {rng.choice(PLACES)}, " + premise.format(N=rng.choice(PEOPLE))


def near_duplicate(rng: random.Random, text: str) -> str:
    """A light edit: the same event in another town."""
    m = re.match(r"In ([^,]+), ", text)
    if not m:
        return text.rstrip(".") + " again."
    return text.replace(m.group(1), rng.choice([p for p in PLACES if p != m.group(1)]), 1)


def event_of(premise: str) -> tuple[int, str] | None:
    """(event number, first name) of a premise the fake wrote, or None."""
    for i, pattern in enumerate(PATTERNS):
        m = pattern.match(premise.strip())
        if m:
            return i, m["N"].split()[0]
    return None


def alternative(event: int, question: str, first: str) -> str:
    _, cause, effect = EVENTS[event]
    return (cause if question == "cause" else effect).format(n=first)


def answer_of(premise: str, question: str, choice1: str, choice2: str) -> int | None:
    """0 or 1: which choice is the premise's `question` (cause or effect), from the text alone."""
    found = event_of(premise)
    if found is None or question not in ("cause", "effect"):
        return None
    right = alternative(found[0], question, found[1])
    if choice1.strip() == right:
        return 0
    if choice2.strip() == right:
        return 1
    return None


def generate(prompt: str, rng: random.Random, cfg, schema: dict) -> dict:
    labels = schema["properties"]["label"]["enum"]  # [choice1, choice2]
    premise = grab(r"Premise:\n(.*?)\n\nQuestion type:", prompt)
    question = grab(r"Question type: (\w+)", prompt, "cause")
    target = target_label(prompt, labels)
    found = event_of(premise)
    if found is None:
        return {"question": question, "choice1": "Nothing happened.", "choice2": "It was Tuesday.", "label": target}
    event, first = found
    right = alternative(event, question, first)
    if rng.random() < 0.5:  # the hard distractor: the event's other side (its effect when asked for the cause)
        wrong = alternative(event, "effect" if question == "cause" else "cause", first)
    else:
        wrong = alternative(rng.choice([i for i in range(len(EVENTS)) if i != event]), question, first)
    position = labels.index(target)
    if rng.random() < cfg.wrong_label_rate:
        position = 1 - position  # planted: the claimed label points at the distractor
    choices = [wrong, wrong]
    choices[position] = right
    return {"question": question, "choice1": choices[0], "choice2": choices[1], "label": target}


def correct(prompt: str, rng: random.Random, cfg, schema: dict) -> dict:
    labels = schema["properties"]["label"]["enum"]
    proposed = grab(r"Proposed answer: (\S+)", prompt).strip('".')
    truth = answer_of(
        grab(r"Premise: ([^\n]*)", prompt),
        grab(r"Question: What was the (\w+) of this\?", prompt),
        grab(r"Alternative 1 \([^)]*\): ([^\n]*)", prompt),
        grab(r"Alternative 2 \([^)]*\): ([^\n]*)", prompt),
    )
    return verdict(labels, proposed, None if truth is None else labels[truth], "Common sense about the premise")
