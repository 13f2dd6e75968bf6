"""BoolQ: a yes/no question about a short passage; label 1 (True) when the answer is yes."""

from __future__ import annotations

import pyarrow as pa

from . import Task


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
    benchmark="super_glue",
    task_categories=("question-answering", "text-classification"),
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
    to_superglue=lambda r: {
        "question": r["question"],
        "passage": r["passage"],
        "idx": r["idx"],
        "label": bool(r["label"]),
    },
)

TASKS = (BOOLQ,)
