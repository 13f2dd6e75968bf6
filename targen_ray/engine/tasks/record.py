"""ReCoRD: a news passage and a cloze query whose `@placeholder` is filled by one of the passage's entities.

ReCoRD has no class label: the job's single pseudo-label "answer" only satisfies the pipeline, and what
is "label-constrained" is the answer entity. The writer names the entities it sees, the query and the
answer; `build` keeps the entities that really occur in the passage and computes every offset itself.

Offsets follow the Hugging Face `super_glue/record` loader (1.0.3, huggingface/datasets#4479): its
`entity_spans` turn the original JSONL's inclusive `end` into an exclusive one (`end + 1`), so
`passage[start:end] == text`, sorted by start; `entities` and `answers` are the sorted distinct texts.
`to_superglue` writes the original ReCoRD JSONL, whose `end` is inclusive again.
"""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc

from . import SpanAnswer, Task

PLACEHOLDER = "@placeholder"

IDX_TYPE = pa.struct([("passage", pa.int32()), ("query", pa.int32())])
RECORD_SCHEMA = pa.schema(
    [
        ("passage", pa.string()),
        ("query", pa.string()),
        ("entities", pa.list_(pa.string())),
        (
            "entity_spans",
            pa.struct(
                [("text", pa.list_(pa.string())), ("start", pa.list_(pa.int32())), ("end", pa.list_(pa.int32()))]
            ),
        ),
        ("answers", pa.list_(pa.string())),
        ("idx", IDX_TYPE),
    ]
)


def _pattern(text: str) -> re.Pattern:
    """`text` as a whole mention: not glued to a letter or digit on either side."""
    return re.compile(rf"(?<!\w){re.escape(text)}(?!\w)")


def mentions(passage: str, names: list[str]) -> list[tuple[str, int, int]]:
    """Every mention of `names` in the passage as (text, start, end exclusive), sorted by start.

    Longer names claim their characters first, so "Morgan" inside "Tracy Morgan" is not a mention of its
    own (a tagger marks the longest name); a name whose every occurrence is inside a longer one has none.
    """
    taken = bytearray(len(passage))
    found = []
    for name in sorted(set(names), key=lambda n: (-len(n), n)):
        for m in _pattern(name).finditer(passage):
            s, e = m.span()
            if not any(taken[s:e]):
                taken[s:e] = b"\x01" * (e - s)
                found.append((name, s, e))
    return sorted(found, key=lambda t: (t[1], t[2]))


# First words that make a different place or body, not a longer name for the same one ("New York" is
# not "York", "South Sudan" not "Sudan").
NOT_A_FIRST_NAME = frozenset(
    "New North South East West Northern Southern Eastern Western Upper Lower Great Greater Little Old "
    "Saint St St. San Santa Los Las El La Le Fort Port Mount Lake Cape".split()
)


def _same_referent(a: str, b: str, entities: list[str]) -> bool:
    """Whether entity `b` is another surface form of `a`: the same text in another case, or a one-word
    short form (a surname: "Morgan" for "Tracy Morgan") that no other multi-word entity ends with."""
    if a.casefold() == b.casefold():
        return True
    short, full = (a, b) if len(a.split()) < len(b.split()) else (b, a)
    words = full.split()
    if len(short.split()) != 1 or len(words) < 2 or words[-1] != short or words[0] in NOT_A_FIRST_NAME:
        return False
    return sum(1 for e in entities if len(e.split()) >= 2 and e.split()[-1] == short) == 1


def answers_for(answer: str, entities: list[str]) -> list[str]:
    """The answer and its other surface forms among the entities, sorted (HF `answers`)."""
    return sorted({answer, *(e for e in entities if _same_referent(answer, e, entities))})


def _find_entity(name: str, entities: list[str]) -> str | None:
    """The entity `name` refers to: exact, else ignoring case and surrounding punctuation."""
    if name in entities:
        return name
    key = name.strip(" \"'.,;:").casefold()
    return next((e for e in entities if e.casefold() == key), None)


def _record_build(seed: str, instance: dict) -> dict:
    passage = seed.strip()
    named = instance["entities"]
    named = [named] if isinstance(named, str) else named
    named = [n.strip() for n in named if n.strip()]
    spans = mentions(passage, named)
    entities = sorted({t for t, _, _ in spans})
    answer = instance["answer"].strip()
    resolved = _find_entity(answer, entities)
    return {
        "passage": passage,
        "query": instance["query"].strip(),
        "entities": entities,
        "entity_spans": {
            "text": [t for t, _, _ in spans],
            "start": [s for _, s, _ in spans],
            "end": [e for _, _, e in spans],
        },
        # An answer that is not a passage entity is kept as written, so `check` names it.
        "answers": answers_for(resolved, entities) if resolved else [answer],
    }


def _record_check(fields: dict) -> str | None:
    passage, query, entities = fields["passage"], fields["query"], fields["entities"]
    if not passage:
        return "empty passage"
    n = query.count(PLACEHOLDER)
    if n != 1:
        return f"query must contain {PLACEHOLDER} exactly once (found {n})"
    if len(query.replace(PLACEHOLDER, " ").split()) < 3:
        return "query has fewer than 3 words besides the placeholder"
    if len(entities) < 2:
        return f"fewer than 2 entities occur in the passage ({len(entities)})"
    spans = fields["entity_spans"]
    texts, starts, ends = spans["text"], spans["start"], spans["end"]
    if not len(texts) == len(starts) == len(ends):
        return "entity_spans lists differ in length"
    for t, s, e in zip(texts, starts, ends, strict=True):
        if not (0 <= s < e <= len(passage)) or passage[s:e] != t:
            return f"entity span [{s}, {e}) does not point at {t!r}"
    if set(texts) != set(entities):
        return "entities and entity_spans name different entities"
    if not fields["answers"]:
        return "no answer"
    for answer in fields["answers"]:
        if answer not in entities:
            return f"answer {answer!r} is not one of the passage's entities"
        if _pattern(answer.casefold()).search(query.casefold()):
            return f"answer {answer!r} appears verbatim in the query"
    if any(query.replace(PLACEHOLDER, a).casefold() in passage.casefold() for a in fields["answers"]):
        return "query copied from the passage"
    return None


def _record_revise(fields: dict, judge: dict) -> dict | str:
    """The judge names the entity that fills the placeholder: a different passage entity replaces the
    answers (the row counts as corrected); a name that is no entity sinks the row."""
    named = judge["answer"].strip()
    entity = _find_entity(named, fields["entities"])
    if entity is None:
        return f"judge's answer {named!r} is not one of the passage's entities"
    if entity in fields["answers"]:
        return fields
    revised = {**fields, "answers": answers_for(entity, fields["entities"])}
    problem = _record_check(revised)
    return f"judge's answer {entity!r}: {problem}" if problem else revised


def _record_idx(rows: pa.Table) -> pa.Array:
    """{passage: the seed's dense index in first-seen order, query: 0..n-1} for one split in idx order."""
    seeds = rows["seed_id"].combine_chunks() if rows.num_rows else pa.array([], pa.string())
    passage = pc.dictionary_encode(seeds).indices.cast(pa.int32())
    query = pa.array(range(rows.num_rows), pa.int32())
    return pa.StructArray.from_arrays([passage, query], fields=list(IDX_TYPE))


def _record_jsonl(r: dict) -> dict:
    """One line of the original ReCoRD JSONL (inclusive `end`), one query per line."""
    spans = r["entity_spans"]
    triples = list(zip(spans["text"], spans["start"], spans["end"], strict=True))
    answers = set(r["answers"])
    return {
        "idx": r["idx"]["passage"],
        "source": "targen",
        "passage": {"text": r["passage"], "entities": [{"start": s, "end": e - 1} for _, s, e in triples]},
        "qas": [
            {
                "idx": r["idx"]["query"],
                "query": r["query"],
                "answers": [{"start": s, "end": e - 1, "text": t} for t, s, e in triples if t in answers],
            }
        ],
    }


RECORD = Task(
    name="record",
    benchmark="super_glue",
    task_categories=("question-answering",),
    label_names=("answer",),  # no class label: one pseudo-label; the answer entity is what is constrained
    record_schema=RECORD_SCHEMA,
    seed_noun="news article",
    seed_tokens=330,  # ~250 words of news with a dozen named entities
    instance_tokens=60,  # the entities list, a query of ~25 words and the answer
    # Plain types only (no length or count limits), the subset every provider's strict schema mode takes;
    # `check` rejects what the types let through (fewer than 2 entities, an empty query).
    instance_schema={
        "type": "object",
        "properties": {
            "entities": {"type": "array", "items": {"type": "string"}},
            "query": {"type": "string"},
            "answer": {"type": "string"},
        },
        "required": ["entities", "query", "answer"],
        "additionalProperties": False,
    },
    build=_record_build,
    check=_record_check,
    judge_schema={"answer": {"type": "string"}},
    revise=_record_revise,
    make_idx=_record_idx,
    to_superglue=_record_jsonl,
    span_answer=SpanAnswer(field="answers", source="passage", question=("query",), candidates="entities"),
)

TASKS = (RECORD,)
