"""Task registry: what an instance of each task looks like, how it is checked, how it is written out.

A task is data plus two small functions; the pipeline never special-cases a task by name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa


@dataclass(frozen=True)
class Task:
    name: str
    label_names: tuple[str, ...]  # Hugging Face `super_glue` ClassLabel names, label 0 first
    record_schema: pa.Schema  # the final split's SuperGLUE fields, in order
    seed_noun: str  # what a step-2 seed is, for prompts and errors
    seed_tokens: int  # typical length of one seed, for `targen estimate`
    instance_tokens: int  # typical length of what step 3 writes
    instance_schema: dict  # JSON schema of the task fields step 3 writes (label excluded)
    # (seed, instance) -> the task fields that go into the record; the seed is raw material step 3 may
    # not rewrite (e.g. BoolQ's passage).
    build: Callable[[str, dict], dict]
    # task fields -> reason the instance is impossible, or None
    check: Callable[[dict], str | None]


def _boolq_build(seed: str, instance: dict) -> dict:
    return {"question": instance["question"].strip(), "passage": seed.strip()}


def _boolq_check(fields: dict) -> str | None:
    question = fields["question"]
    if len(question.split()) < 3:
        return "question has fewer than 3 words"
    if not fields["passage"]:
        return "empty passage"
    if question.lower() in fields["passage"].lower():
        return "question copied from the passage"
    return None


BOOLQ = Task(
    name="boolq",
    label_names=("False", "True"),
    record_schema=pa.schema(
        [("question", pa.string()), ("passage", pa.string()), ("idx", pa.int32()), ("label", pa.int64())]
    ),
    seed_noun="passage",
    seed_tokens=140,  # BoolQ passages average ~108 words
    instance_tokens=20,  # a question of ~9 words, and the label
    instance_schema={
        "type": "object",
        "properties": {"question": {"type": "string", "minLength": 1, "maxLength": 300}},
        "required": ["question"],
        "additionalProperties": False,
    },
    build=_boolq_build,
    check=_boolq_check,
)

TASKS: dict[str, Task] = {t.name: t for t in (BOOLQ,)}


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise KeyError(f"unknown task {name!r} (known: {', '.join(sorted(TASKS))})") from None
