"""Task-aware ReCoRD answers. A seed is a ~250-word news story with about a dozen named entities drawn
from the lists below; a query restates one body sentence in other words with one entity replaced by
@placeholder. The generator plants a wrong answer entity at `cfg.wrong_label_rate`; the judge finds
the passage sentence the query restates and names the entity the query left out, so it corrects
exactly the planted ones, the way a strong judge catches a weak writer."""

from __future__ import annotations

import random
import re

from ..prompt import grab

TASKS = ("record",)
PLACEHOLDER = "@placeholder"

FIRST = [
    "Amelia", "Daniel", "Priya", "Marcus", "Helena", "Tobias", "Yusuf", "Clara", "Declan", "Sofia",
    "Kwame", "Ingrid", "Mateo", "Leila", "Rupert", "Naomi", "Felix", "Harriet", "Omar", "Beatrix",
]  # fmt: skip
LAST = [
    "Hartley", "Okonkwo", "Lindgren", "Castellano", "Whitmore", "Nakamura", "Brennan", "Delacroix",
    "Abernathy", "Kowalski", "Fairbanks", "Moreau", "Ashworth", "Petrov", "Quinlan", "Sandoval",
    "Thorne", "Varga", "Ellison", "Oyelaran",
]  # fmt: skip
CITIES = {
    "Manchester": "England", "Leeds": "England", "Lyon": "France", "Nantes": "France", "Seville": "Spain",
    "Bilbao": "Spain", "Porto": "Portugal", "Rotterdam": "the Netherlands", "Bremen": "Germany",
    "Turin": "Italy", "Gdansk": "Poland", "Cork": "Ireland", "Malmo": "Sweden", "Graz": "Austria",
    "Ghent": "Belgium", "Tampere": "Finland",
}  # fmt: skip
COUNTRIES = sorted({c.removeprefix("the ") for c in CITIES.values()})
ORGS = [
    "Meridian Bank", "Harbour Trust", "Castlegate Rovers", "Blackwater Energy", "Redfern University",
    "Atlas Freight", "Kingsmere Hospital", "Silverline Rail", "Greyhaven Press", "Lowther Foundation",
    "Northgate Council", "Orchard Housing Group", "Pennant Airways", "Stonebridge Capital",
    "Vale Water Authority", "Wexford Institute",
]  # fmt: skip
ROLES = ["chief executive", "chairwoman", "director", "spokesman", "managing director", "president"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]
MONTHS = ["January", "March", "April", "June", "September", "November"]

# The story, in order: each body sentence names one to three entities; `{P0}` a full name, `{S0}` the
# same person's surname, `{C0}` a city, `{K0}` its country, `{O0}` an organisation.
BODY = [
    "{P0}, the {role} of {O0}, announced on {day} that the organisation would open a new centre in {C0}, "
    "{K0}, after months of talks about {setting}.",
    "The plan, worth an estimated {money} million pounds, was drawn up with {O1} and is expected to create "
    "{jobs} jobs within three years.",
    "Speaking at a press conference in {C1}, {S0} said the project had been 'a long time coming' and thanked "
    "local residents for their patience.",
    "{P1}, who chairs the regional committee on {setting}, welcomed the decision but warned that costs could "
    "rise sharply.",
    "Critics, led by {P2} of {O2}, argue that the money would be better spent in {C2}, where two similar "
    "schemes collapsed last year.",
    "{S2} told reporters the campaign had gathered more than {signatures} signatures calling for a public inquiry.",
    "Officials in {K1} are expected to review the proposal before the end of the month.",
    "{P3}, a former adviser to {S1}, said the dispute reflected deeper tensions between {O0} and {O1}.",
    "{S3} is due to give evidence to a parliamentary hearing on {day2}.",
    "A spokesperson for {O1} declined to comment on the figures but said talks with {S1} remained 'constructive'.",
    "Last year {O2} won a similar case against the council in {C0}, a result {S0} has described as 'a "
    "warning to everyone'.",
    "Work on the first phase is scheduled to begin in {month}, with a second site in {C1} to follow.",
]
OPTIONAL = (1, 3, 6, 9, 11)  # body sentences a story may leave out, so passages vary in length
FILLER = [
    "The announcement comes at a difficult time for the sector.",
    "Local businesses have been divided over the plans.",
    "Similar projects elsewhere have had mixed results.",
    "Residents have until the end of the month to submit their views.",
    "Analysts say the coming weeks will be decisive.",
    "The figures have not been independently verified.",
    "Opposition to the scheme has grown steadily since the spring.",
    "Several community groups have asked for more detail.",
]
HIGHLIGHTS = [
    "{S0} says {O0} will open a new centre in {C0}",
    "Critics led by {P2} want the money spent in {C2} instead",
    "{S3} will give evidence to a parliamentary hearing",
    "{O1} says talks remain constructive",
]
# Light paraphrase for queries: lowercase words only, so entity names are never touched.
SYNONYMS = {
    "announced": "revealed", "said": "stated", "told": "informed", "open": "launch", "argue": "claim",
    "welcomed": "praised", "warned": "cautioned", "expected": "likely", "review": "examine",
    "declined": "refused", "described": "branded", "scheduled": "due", "gathered": "collected",
    "reflected": "showed", "better": "more wisely", "similar": "comparable", "plan": "proposal",
    "calling": "pressing", "months": "many months", "due": "set",
}  # fmt: skip
_SYN = re.compile(r"\b(" + "|".join(SYNONYMS) + r")\b")
PREFIXES = [
    "It emerged later that ",
    "According to follow-up reports, ",
    "Sources close to the talks say ",
    "In a statement released afterwards, it was confirmed that ",
    "Asked about the row, observers noted that ",
]
STARTERS = {"The", "Officials", "Critics", "Speaking", "Last", "Work", "A"}
STOP = {"the", "a", "an", "of", "to", "in", "on", "and", "that", "had", "has", "is", "was", "be", "by", "for", "with"}
_NAMES = re.compile(
    r"(?<!\w)(?:"
    + "|".join(
        [
            *sorted(map(re.escape, ORGS), key=len, reverse=True),
            r"(?:" + "|".join(FIRST) + r") (?:" + "|".join(LAST) + r")",
            *LAST,
            *CITIES,
            *sorted(map(re.escape, COUNTRIES), key=len, reverse=True),
        ]
    )
    + r")(?!\w)"
)
_SENTENCE = re.compile(r"(?<=[.!?'])\s+(?=[A-Z])")
_WORD = re.compile(r"[a-z0-9]+")


def seed(rng: random.Random, setting: str) -> str:
    first, last = rng.sample(FIRST, 4), rng.sample(LAST, 4)
    cities = rng.sample(sorted(CITIES), 3)
    slots = {
        **{f"P{i}": f"{first[i]} {last[i]}" for i in range(4)},
        **{f"S{i}": last[i] for i in range(4)},
        **{f"C{i}": c for i, c in enumerate(cities)},
        **{f"K{i}": CITIES[c] for i, c in enumerate(cities)},
        **{f"O{i}": o for i, o in enumerate(rng.sample(ORGS, 3))},
        "role": rng.choice(ROLES),
        "day": rng.choice(DAYS),
        "day2": rng.choice(DAYS),
        "month": rng.choice(MONTHS),
        "money": rng.randint(12, 480),
        "jobs": rng.randint(40, 900),
        "signatures": f"{rng.randint(2, 60) * 1000:,}",
        "setting": setting.strip().rstrip(".") or "local affairs",
    }
    dropped = set(rng.sample(OPTIONAL, 3))
    body = [s.format(**slots) for i, s in enumerate(BODY) if i not in dropped]
    for filler in rng.sample(FILLER, 3):
        body.insert(rng.randint(1, len(body)), filler)
    text = " ".join(body)
    text = text[0].upper() + text[1:]  # a "Officials in the Netherlands" start stays a sentence
    highlights = rng.sample(HIGHLIGHTS, 3)
    return text + "".join(f"\n@highlight\n{h.format(**slots)}" for h in highlights)


def near_duplicate(rng: random.Random, text: str) -> str:
    """A light edit: one filler sentence swapped, so only a semantic filter catches it."""
    for sentence in FILLER:
        if sentence in text:
            return text.replace(sentence, rng.choice([s for s in FILLER if s not in text]), 1)
    return text.replace("\n@highlight", " No further details were given.\n@highlight", 1)


def body_sentences(passage: str) -> list[str]:
    """The story's sentences, without its @highlight lines."""
    return _SENTENCE.split(passage.split("\n@highlight", 1)[0].strip())


def entities_in(text: str) -> list[str]:
    """Named entities the fake recognises, each once, in order of first mention."""
    return list(dict.fromkeys(_NAMES.findall(text)))


def _shares_word(a: str, b: str) -> bool:
    return bool(set(a.split()) & set(b.split()))


def _paraphrase(sentence: str, answer: str, rng: random.Random) -> str:
    query = re.sub(rf"(?<!\w){re.escape(answer)}(?!\w)", PLACEHOLDER, sentence, count=1)
    query = _SYN.sub(lambda m: SYNONYMS[m.group(1)], query).rstrip(".")
    first = query.split(" ", 1)[0]
    if first in STARTERS:
        query = query[0].lower() + query[1:]
    return rng.choice(PREFIXES) + query + "."


def generate(prompt: str, rng: random.Random, cfg, schema: dict) -> dict:
    label = schema["properties"]["label"]["enum"][0]
    passage = grab(r"Passage:\n(.*?)\n\n\(End of passage\.\)", prompt)
    entities = entities_in(passage)
    choices = []
    for sentence in body_sentences(passage):
        found = _NAMES.findall(sentence)
        here = list(dict.fromkeys(found))
        choices += [
            (sentence, e, here)
            for e in here
            if found.count(e) == 1 and not any(_shares_word(e, o) for o in here if o != e)
        ]
    if len(entities) < 2 or not choices:
        return {"entities": entities or ["the passage"], "query": "Nothing here.", "answer": "none", "label": label}
    sentence, answer, here = rng.choice(choices)
    query = _paraphrase(sentence, answer, rng)
    if rng.random() < cfg.wrong_label_rate:  # planted: another entity of the passage, which the query rules out
        wrong = [e for e in entities if e not in here and not any(_shares_word(e, o) for o in here)]
        answer = rng.choice(wrong) if wrong else answer
    return {"entities": entities, "query": query, "answer": answer, "label": label}


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower())) - STOP


def named(text: str, entities: list[str]) -> set[str]:
    """Which of `entities` the text mentions as a whole name; a longer name claims its characters
    first, so "Morgan" inside "Tracy Morgan" is no mention of its own (as the task's `build` counts)."""
    found = set()
    for name in sorted(entities, key=len, reverse=True):
        if name in text:
            text, n = re.subn(rf"(?<!\w){re.escape(name)}(?!\w)", "\x00", text)
            if n:
                found.add(name)
    return found


def solve(passage: str, query: str, entities: list[str]) -> str | None:
    """The entity that fills the placeholder: the one the query leaves out of the passage sentence it
    restates (the sentence sharing most words with it), or None when that is not one entity."""
    words = _words(query.replace(PLACEHOLDER, " "))
    sentences = body_sentences(passage)
    if not sentences or not words:
        return None
    best = max(sentences, key=lambda s: len(words & _words(s)))
    left_out = named(best, entities) - named(query, entities)
    return left_out.pop() if len(left_out) == 1 else None


def correct(prompt: str, rng: random.Random, cfg, schema: dict) -> dict:
    label = schema["properties"]["label"]["enum"][0]
    passage = grab(r"Passage:\n(.*?)\n\n\(End of passage\.\)", prompt)
    query = grab(r"Query: ([^\n]*)", prompt)
    entities = [line[2:].strip() for line in grab(r"Entities:\n(.*?)\n\n", prompt).splitlines() if line[:2] == "- "]
    proposed = grab(r"Proposed answer: ([^\n]*)", prompt)
    found = solve(passage, query, entities)
    if found is None:
        return {"rationale": "No single entity of the passage fits the placeholder.", "answer": "none", "label": label}
    verdict = "agrees with" if found in proposed.split(" / ") else "contradicts"
    rationale = f"The query restates a passage sentence about {found}, which {verdict} the proposed answer."
    return {"rationale": rationale, "answer": found, "label": label}
