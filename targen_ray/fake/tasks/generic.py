"""Answers for any declared task, with no code of its own: what to write comes from the request alone.

The step-3 schema names the fields, their types and an integer's bounds, and its descriptions say the
rest (the target label, "Copied word for word from X", "One of the items of X", word bounds, regular
expressions a text must or must not match: `patterns`); the seed is the fake's own
generic paragraph, whose names it recognises in any prompt. Every text the fake writes carries a
signature word of the label it really has (or, with no labels, of the answer's name), so its judge
reads the truth off any step-4 prompt that shows the instance: a planted wrong label
(cfg.wrong_label_rate) or a planted wrong span is caught, the way a strong judge catches a weak writer.
Text is drawn from a generator seeded by the seed's names, so near-duplicate seeds (stage 5's work)
give near-duplicate instances.
"""

from __future__ import annotations

import random
import re
import zlib
from types import SimpleNamespace

from ..patterns import failing, fit, rules
from ..prompt import verdict
from ..words import FEATURES, FILLER, NOUNS, PEOPLE, PLACES

TASKS = ()  # not a task of its own: content.answer falls back to it
SYLLABLES = ["ka", "lo", "mi", "ven", "dra", "sul", "tor", "bex", "qui", "nor", "fa", "zel", "ru", "po", "shi", "gan"]
NAMES = PEOPLE + PLACES
OPENINGS = [
    "{a} and {b} met in {place} to talk about {setting}.",
    "In {place}, {a} spent a season on {setting} with {b}.",
    "{a} wrote to {b} from {place} about {setting}.",
    "A meeting on {setting} brought {a} and {b} to {place}.",
]
CLOSINGS = [
    "{c} later described the work from {place2}.",
    "The notes of {c} ended up in {place2}.",
    "{c} kept the records in {place2} for years.",
]
WRITTEN = [
    "{a} points to the {noun} in {place}, which is {sig}.",
    "According to {a}, what happened in {place} was {sig} from the start.",
    "The {noun} that {a} describes in {place} reads as {sig}.",
    "{a} calls the {noun} in {place} {sig}, and {b} agrees.",
]


def signature(value: str) -> str:
    """A made-up word standing for a label or an answer: nothing else the fake writes contains it."""
    h = zlib.crc32(value.encode())
    return "".join(SYLLABLES[(h >> (4 * i)) % len(SYLLABLES)] for i in range(3)).capitalize()


def seed(rng: random.Random, setting: str) -> str:
    a, b, c = rng.sample(PEOPLE, 3)
    place, place2 = rng.sample(PLACES, 2)
    slots = {"a": a, "b": b, "c": c, "place": place, "place2": place2, "setting": setting}
    middle = rng.sample(FILLER, 2) + [f"It is remembered for {rng.choice(FEATURES)}."]
    return " ".join([rng.choice(OPENINGS).format(**slots), *middle, rng.choice(CLOSINGS).format(**slots)])


def near_duplicate(rng: random.Random, text: str) -> str:
    """A light edit: one filler sentence swapped, so only a semantic filter catches it."""
    for sentence in FILLER:
        if sentence in text:
            return text.replace(sentence, rng.choice([s for s in FILLER if s not in text]), 1)
    return text + " The records are incomplete."


def names_in(text: str) -> list[str]:
    """The fake's names in `text`, in order of first occurrence."""
    found = [(m.start(), n) for n in NAMES if (m := re.search(rf"(?<!\w){re.escape(n)}(?!\w)", text))]
    return [n for _, n in sorted(found)]


def _hint(prop: dict, pattern: str) -> str | None:
    m = re.search(pattern, prop.get("description", ""))
    return m.group(1).strip() if m else None


def _sentence(rng: random.Random, names: list[str], sig: str, k: int, prop: dict, said: list[str]) -> str:
    """A text with the signature up front, then a sentence of the seed (`said`) that makes it differ
    from other rows' as much as their seeds differ."""
    people = [n for n in names if n in PEOPLE] or PEOPLE[:2]
    places = [n for n in names if n in PLACES] or PLACES[:1]
    slots = {"a": people[k % len(people)], "b": people[(k + 1) % len(people)], "place": places[k % len(places)]}
    text = WRITTEN[(k + rng.randrange(len(WRITTEN))) % len(WRITTEN)]
    text = text.format(noun=rng.choice(NOUNS).lower(), sig=sig, **slots)
    if said:
        text += " " + said[k % len(said)]
    most, least = _hint(prop, r"At most (\d+) words"), _hint(prop, r"At least (\d+) words")
    words = text.split()
    if least and len(words) < int(least):
        words += f"and {slots['b']} noted it too in {slots['place']} that year".split()
    if most and len(words) > int(most):
        words = [w for w in words if w != "the"][: int(most) - 1] + [sig + "."]
    return fit(" ".join(words), rules(prop), int(most) if most else None)


def generate(prompt: str, rng: random.Random, cfg, schema: dict) -> dict:
    props = dict(schema["properties"])
    labels = props.pop("label")["enum"]
    target = _hint(schema["properties"]["label"], r"Target label: ([^\n]+)")
    target = target if target in labels else labels[-1]
    names = names_in(prompt)
    said = [x.strip() for x in re.split(r"(?<=[.!?])\s+|\n+", prompt) if names_in(x)]
    local = random.Random("|".join(names) or prompt)  # near-duplicate seeds: the same names, the same text
    planted = rng.random() < cfg.wrong_label_rate
    truth = target
    if planted and len(labels) > 1:
        truth = rng.choice([lbl for lbl in labels if lbl != target])
    out: dict = {}
    spans = {n: _hint(p, r"Copied word for word from (\w+)") for n, p in props.items()}
    answer = None
    if len(labels) == 1:  # no label space: the texts carry the answer's signature
        candidates = names or NAMES[:2]
        answer = local.choice(candidates)
        planted = planted and len(candidates) > 1
    sig = signature(answer if answer else truth)
    for name, prop in props.items():  # lists first: a one_of field picks from one
        if prop.get("type") == "array":
            out[name] = (names or NAMES[:3])[:4]
    for k, (name, prop) in enumerate(props.items()):
        if name in out or spans.get(name):
            continue
        if prop.get("enum"):
            out[name] = local.choice([v for v in prop["enum"] if not failing(v, rules(prop))] or prop["enum"])
        elif prop.get("type") == "integer":
            low, high = prop.get("minimum"), prop.get("maximum")
            low = low if low is not None else 1 if high is None else high - 4
            out[name] = local.randint(low, high if high is not None else low + 4)
        elif (items := _hint(prop, r"One of the items of (\w+)")) and out.get(items):
            out[name] = local.choice(out[items])
        else:
            out[name] = _sentence(local, names, sig, k, prop, said)
    for name, target_field in spans.items():
        if target_field:
            written = names_in(out[target_field]) if target_field in out else names
            wrong = [n for n in written if n != answer]
            out[name] = rng.choice(wrong) if planted and answer and wrong else answer or (written or ["?"])[0]
    if rng.random() < cfg.violation_rate:
        _violate(out, props, spans, rng)
    return {**out, "label": target}


def _violate(out: dict, props: dict, spans: dict, rng: random.Random) -> None:
    """Break one check the schema states, so rejects/ shows the declared check catching it."""
    breakable = [
        n
        for n, p in props.items()
        if spans.get(n) or re.search(r"At (least|most) \d+ words", p.get("description", "")) or _bounded(p)
    ]
    if not breakable:
        return
    name = rng.choice(breakable)
    prop = props[name]
    if spans.get(name):
        out[name] = "words that occur nowhere else"
    elif _bounded(prop):
        out[name] = prop["maximum"] + 1 if "maximum" in prop else prop["minimum"] - 1
    elif most := _hint(prop, r"At most (\d+) words"):
        out[name] = " ".join(["more"] * (int(most) + 5))
    else:
        out[name] = "Short."


def _bounded(prop: dict) -> bool:
    return prop.get("type") == "integer" and ("minimum" in prop or "maximum" in prop)


def unmet(schema: dict) -> list[str]:
    """The stated regular expressions an instance this writer makes still fails (`field.matches '...'`):
    the writer run on a seed of its own, so a rehearsal can say which checks it cannot pass."""
    rng = random.Random(0)
    out = generate(seed(rng, "local history"), rng, SimpleNamespace(wrong_label_rate=0, violation_rate=0), schema)
    text = {k: " ".join(map(str, v)) if isinstance(v, list) else str(v) for k, v in out.items()}
    return [f"{n}.{r}" for n, p in schema["properties"].items() for r in failing(text.get(n, ""), rules(p))]


def correct(prompt: str, rng: random.Random, cfg, schema: dict) -> dict:
    props = schema["properties"]
    labels = props["label"]["enum"]
    proposed = _hint(props["label"], r"Proposed label: ([^\n]+)") or labels[0]
    if "answer" in props:  # no label space: name the answer whose signature the instance carries
        said = _hint(props["answer"], r"Proposed answer: ([^\n]+)") or ""
        hits = [n for n in names_in(prompt) if signature(n) in prompt]
        found = hits[0] if len(hits) == 1 else said
        agrees = "agrees with" if found == said else "contradicts"
        return {"rationale": f"The text {agrees} the proposed answer.", "answer": found, "label": proposed}
    hits = [lbl for lbl in labels if signature(lbl) in prompt]
    return verdict(labels, proposed, hits[0] if len(hits) == 1 else None, "The instance")
