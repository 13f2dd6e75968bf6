"""COPA: a premise and two alternatives; the label says which alternative is the more plausible cause
(or effect) of the premise: 0 = choice1, 1 = choice2.

The pipeline's label quotas balance the position of the right alternative. The question (cause or
effect) is balanced by the seed: prompts/copa/generate.j2 asks for the effect when the premise has an
even number of characters and for the cause otherwise (`question_for`), so about half the premises
of any run get each question, whatever the model's own taste. The model repeats the question it wrote
its alternatives for in its answer; `check` does not reject a model that picked the other one.
"""

from __future__ import annotations

import re

import pyarrow as pa

from . import Task

QUESTIONS = ("cause", "effect")


def question_for(premise: str) -> str:
    """The question the generate prompt asks for this premise (the same rule as generate.j2)."""
    return "effect" if len(premise) % 2 == 0 else "cause"


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w]+", " ", text.lower()).split())


def _copa_build(seed: str, instance: dict) -> dict:
    return {
        "premise": seed.strip(),
        "choice1": instance["choice1"].strip(),
        "choice2": instance["choice2"].strip(),
        "question": instance["question"].strip().lower(),
    }


def _copa_check(fields: dict) -> str | None:
    premise = _norm(fields["premise"])
    if not premise:
        return "empty premise"
    if fields["question"] not in QUESTIONS:
        return f"question is {fields['question']!r}, not cause or effect"
    choices = [_norm(fields["choice1"]), _norm(fields["choice2"])]
    for i, choice in enumerate(choices, 1):
        if len(choice.split()) < 2:
            return f"choice{i} has fewer than 2 words"
        if choice == premise or premise in choice:
            return f"choice{i} copies the premise"
    if choices[0] == choices[1]:
        return "choice1 and choice2 are the same"
    return None


COPA = Task(
    name="copa",
    benchmark="super_glue",
    task_categories=("multiple-choice",),
    label_names=("choice1", "choice2"),
    record_schema=pa.schema(
        [
            ("premise", pa.string()),
            ("choice1", pa.string()),
            ("choice2", pa.string()),
            ("question", pa.string()),
            ("idx", pa.int32()),
            ("label", pa.int64()),
        ]
    ),
    seed_noun="premise",
    seed_tokens=14,  # COPA premises are one short sentence of ~6-10 words
    instance_tokens=40,  # the question word, two alternatives of ~6 words, the label, JSON keys
    instance_schema={
        "type": "object",
        "properties": {
            "question": {"type": "string", "enum": list(QUESTIONS)},
            "choice1": {"type": "string", "minLength": 1, "maxLength": 200},
            "choice2": {"type": "string", "minLength": 1, "maxLength": 200},
        },
        "required": ["question", "choice1", "choice2"],
        "additionalProperties": False,
    },
    build=_copa_build,
    check=_copa_check,
    # COPA's JSONL keeps the label as the index of the right choice (0 or 1).
    to_superglue=lambda r: {
        "premise": r["premise"],
        "choice1": r["choice1"],
        "choice2": r["choice2"],
        "question": r["question"],
        "idx": r["idx"],
        "label": int(r["label"]),
    },
)

TASKS = (COPA,)
