"""Task-aware WiC answers. Seeds are dictionary entries for words of a small lexicon whose senses each
come with example-sentence templates (the used form in brackets). The generator writes two sentences in
one sense or in two, and the judge recognises which sense's template each sentence came from, so it
re-derives same/different from the sentences alone and catches exactly the planted wrong labels."""

from __future__ import annotations

import random
import re

from ..prompt import grab, target_label, verdict
from ..words import PEOPLE, PLACES

TASKS = ("wic",)

# Words, each with its part of speech and two senses; each sense has a gloss (indented once) and two
# example-sentence templates (indented twice), in which {name} and {place} vary the sentence and the
# brackets mark the form of the word.
ENTRIES = """
bank (noun)
  the sloping land beside a river
    {name} sat on the grassy [bank] of the river.
    The boat drifted toward the muddy [bank] near {place}.
  a business that keeps and lends money
    {name} opened a savings account at the [bank].
    The [bank] in {place} raised its interest rates.
run (verb)
  to manage or operate
    {name} [runs] a small bakery in {place}.
    For twenty years {name} [ran] the family hotel.
  to move fast on foot
    {name} [ran] to catch the last bus.
    The children [run] across the field in {place} every morning.
bark (noun)
  the sound a dog makes
    The dog's loud [bark] startled {name}.
    A sharp [bark] echoed down the street in {place}.
  the outer covering of a tree
    {name} peeled the [bark] off a birch log.
    Beetles had eaten into the [bark] of the old oak near {place}.
pitch (noun)
  a field for playing sport
    The players walked onto the muddy [pitch] in {place}.
    {name} helped mark the lines on the football [pitch].
  how high or low a sound is
    {name} sang the opening note at a perfect [pitch].
    The violin's [pitch] dropped as the room in {place} grew cold.
spring (noun)
  the season after winter
    {name} plants tomatoes every [spring].
    The market in {place} reopens in the [spring].
  a coil of metal that returns to shape
    A broken [spring] stuck out of {name}'s old mattress.
    The clockmaker in {place} replaced the [spring].
match (noun)
  a game between two sides
    {name} watched the football [match] in {place}.
    The chess [match] lasted until midnight.
  a small stick that makes fire
    {name} struck a [match] to light the candle.
    The last [match] in the box was damp from the rain in {place}.
note (noun)
  a single musical sound
    {name} held the high [note] for ten seconds.
    The organ in {place} played one long [note].
  a short written message
    {name} left a [note] on the kitchen table.
    A [note] pinned to the door in {place} said the shop was closed.
seal (noun)
  a sea animal with flippers
    A grey [seal] rested on the rocks near {place}.
    {name} photographed a young [seal] on the beach.
  a stamp of wax that closes a letter
    {name} broke the wax [seal] on the letter.
    The clerk in {place} pressed the town's [seal] into the wax.
crane (noun)
  a tall wading bird
    A [crane] waded through the marsh near {place}.
    {name} spotted a [crane] standing on one leg.
  a machine that lifts heavy loads
    The [crane] lifted steel beams onto the roof.
    {name} operated the harbour [crane] in {place}.
key (noun)
  a piece of metal that opens a lock
    {name} lost the [key] to the front door.
    The hotel in {place} gave every guest a brass [key].
  the set of notes a piece of music is in
    The song was written in the [key] of D minor.
    {name} changed the [key] so the choir could sing it.
plant (noun)
  a factory
    {name} works at the car [plant] outside {place}.
    The chemical [plant] closed after the fire.
  a living thing that grows in soil
    {name} watered the [plant] on the windowsill.
    A tomato [plant] grew by the wall in {place}.
scale (noun)
  a device for weighing
    {name} stood on the bathroom [scale].
    The grocer in {place} set the apples on the [scale].
  a small plate on the skin of a fish
    A silver [scale] stuck to {name}'s thumb.
    The fishmonger in {place} scraped off every [scale].
drive (verb)
  to steer a vehicle
    {name} [drove] the van to {place}.
    The nurses [drive] to the hospital before dawn.
  to force something in by hitting it
    {name} [drove] a nail into the fence post.
    The builders in {place} [drive] steel piles into the clay.
play (verb)
  to take part in a game
    The children [played] football in the park in {place}.
    {name} [plays] chess with a neighbour on Sundays.
  to perform music on an instrument
    {name} [played] the violin at the wedding.
    The band in {place} [plays] old folk songs.
charge (verb)
  to ask a price for something
    The shop in {place} [charges] a fee for delivery.
    {name} [charged] ten pounds for the repair.
  to rush forward in attack
    The soldiers [charged] up the hill near {place}.
    The bull [charged] at {name} across the field.
train (noun)
  a line of railway carriages
    {name} caught the early [train] to {place}.
    The [train] was delayed by snow.
  the long back part of a gown
    The bride's long [train] trailed behind her.
    {name} carried the [train] of the queen's robe in {place}.
"""


def _lexicon(text: str) -> dict[str, tuple[str, list[tuple[str, list[str]]]]]:
    """word -> (part of speech, [(gloss, [templates]), ...]) from ENTRIES."""
    out: dict = {}
    for line in text.strip("\n").splitlines():
        if not line.startswith(" "):
            word, pos = re.fullmatch(r"(\w+) \((\w+)\)", line).groups()
            out[word] = (pos, [])
        elif not line.startswith("    "):
            out[word][1].append((line.strip(), []))
        else:
            out[word][1][-1][1].append(line.strip())
    return out


LEXICON = _lexicon(ENTRIES)
BRACKET = re.compile(r"\[([^\]]+)\]")


def _regex(template: str) -> re.Pattern:
    text = re.escape(BRACKET.sub(lambda m: m.group(1), template))
    for slot in ("name", "place"):
        text = text.replace(re.escape("{" + slot + "}"), r".+?")
    return re.compile(f"^{text}$")


# word -> [(sense number, compiled template)]
SENSES = {
    word: [(s, _regex(t)) for s, (_, templates) in enumerate(senses) for t in templates]
    for word, (_, senses) in LEXICON.items()
}


def seed(rng: random.Random, setting: str) -> str:
    word = rng.choice(sorted(LEXICON))
    pos, senses = LEXICON[word]
    glosses = [g for g, _ in senses]
    rng.shuffle(glosses)
    return f"{word} ({pos}), as used in {setting} in {rng.choice(PLACES)}: 1. {glosses[0]}; 2. {glosses[1]}."


def near_duplicate(rng: random.Random, text: str) -> str:
    """A light edit: the two senses' punctuation."""
    return text.replace("; 2.", ", 2.", 1) if "; 2." in text else text + " (rare)"


def sentence(template: str, rng: random.Random) -> tuple[str, str]:
    """(sentence, the form used) from a template."""
    filled = template.format(name=rng.choice(PEOPLE), place=rng.choice(PLACES))
    return BRACKET.sub(lambda m: m.group(1), filled), BRACKET.search(filled).group(1)


def sense_of(word: str, text: str) -> int | None:
    for sense, pattern in SENSES.get(word, ()):
        if pattern.match(text.strip()):
            return sense
    return None


def same_sense(word: str, sentence1: str, sentence2: str) -> bool | None:
    """Whether the word has the same sense in both sentences, from the sentences alone."""
    a, b = sense_of(word, sentence1), sense_of(word, sentence2)
    return None if a is None or b is None else a == b


def generate(prompt: str, rng: random.Random, cfg, schema: dict) -> dict:
    labels = schema["properties"]["label"]["enum"]  # [different, same]
    entry = grab(r"Word entry:\n(.*?)\n\nRequired answer:", prompt)
    target = target_label(prompt, labels)
    word = entry.split(" ", 1)[0]
    if word not in LEXICON:
        return {
            "word": word or "word",
            "sentence1": "A word.",
            "form1": "word",
            "sentence2": "Another word.",
            "form2": "word",
            "label": target,
        }
    same = labels.index(target) == 1
    if rng.random() < cfg.wrong_label_rate:
        same = not same  # planted: the claimed label is not what the sentences show
    senses = LEXICON[word][1]
    if same:
        templates = list(rng.choice(senses)[1])
        rng.shuffle(templates)
    else:
        order = rng.sample(range(len(senses)), 2)
        templates = [rng.choice(senses[s][1]) for s in order]
    (s1, f1), (s2, f2) = (sentence(t, rng) for t in templates)
    return {"word": word, "sentence1": s1, "form1": f1, "sentence2": s2, "form2": f2, "label": target}


def correct(prompt: str, rng: random.Random, cfg, schema: dict) -> dict:
    labels = schema["properties"]["label"]["enum"]
    proposed = grab(r"Proposed answer: (\S+)", prompt).strip('".')
    same = same_sense(
        grab(r"Word: ([^\n]*)", prompt),
        grab(r"Sentence 1: ([^\n]*)", prompt),
        grab(r"Sentence 2: ([^\n]*)", prompt),
    )
    return verdict(labels, proposed, None if same is None else labels[int(same)], "Each sentence's sense")
