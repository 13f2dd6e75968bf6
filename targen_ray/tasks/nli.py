"""The SuperGLUE entailment family: CB, RTE and the two diagnostics AX-b and AX-g.

All four are a premise (the step-2 seed, which generation may not rewrite) and a hypothesis written
for the target label; they differ in field names, label space and a few task-specific checks, so one
builder makes all four.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pyarrow as pa

from . import Task

ENTAILMENT_2 = ("entailment", "not_entailment")
ENTAILMENT_3 = ("entailment", "contradiction", "neutral")

# Third-person pronouns an AX-g premise must contain (Winogender: subject, object and possessive forms).
PRONOUNS = re.compile(r"\b(he|she|they|him|her|them|his|hers|their|theirs)\b", re.I)
# Gendered pronouns an AX-g hypothesis must not contain: it names the antecedent instead.
GENDERED = re.compile(r"\b(he|she|him|her|his|hers)\b", re.I)
QUOTES = "\"'“”‘’`"


def normalise(text: str) -> str:
    """Lower case, words only: what "the same text" means for the copy checks."""
    return " ".join(re.findall(r"[^\W_]+", text.lower()))


def clean_hypothesis(text: str) -> str:
    """One line, no wrapping quotes: models sometimes quote the hypothesis or break it over lines."""
    text = " ".join(text.split())
    while len(text) >= 2 and text[0] in QUOTES and text[-1] in QUOTES:
        text = text[1:-1].strip()
    return text


def pair_check(
    premise: str,
    hypothesis: str,
    *,
    min_premise_words: int,
    max_hypothesis_words: int,
    forbid_containing: bool,
) -> str | None:
    """The checks every entailment pair gets; None when the pair can stand."""
    p, h = normalise(premise), normalise(hypothesis)
    if not p:
        return "empty premise"
    if len(p.split()) < min_premise_words:
        return f"premise has fewer than {min_premise_words} words"
    if not h:
        return "empty hypothesis"
    if len(h.split()) < 2:
        return "hypothesis is a single word"
    if len(h.split()) > max_hypothesis_words:
        return f"hypothesis has more than {max_hypothesis_words} words"
    if h == p:
        return "hypothesis identical to the premise"
    if forbid_containing and f" {p} " in f" {h} ":
        return "hypothesis copies the whole premise"
    return None


def axg_check(premise: str, hypothesis: str) -> str | None:
    """Winogender: the premise hinges on a pronoun; the hypothesis resolves it to a person."""
    if not PRONOUNS.search(premise):
        return "premise has no third-person pronoun"
    if GENDERED.search(hypothesis):
        return "hypothesis keeps a gendered pronoun instead of naming its antecedent"
    return None


def entailment_task(
    name: str,
    label_names: tuple[str, ...],
    *,
    first: str = "premise",
    second: str = "hypothesis",
    seed_noun: str,
    seed_tokens: int,
    instance_tokens: int,
    min_premise_words: int = 3,
    max_hypothesis_words: int = 40,
    forbid_containing: bool = True,
    extra_check: Callable[[str, str], str | None] | None = None,
    superglue_extra: Callable[[dict], dict] | None = None,
) -> Task:
    """One entailment task: `first` holds the premise (the seed), `second` the hypothesis step 3 writes.

    Step 3 always fills `hypothesis` (the word the prompts use); `build` files it under `second`.
    """

    def build(seed: str, instance: dict) -> dict:
        return {first: seed.strip(), second: clean_hypothesis(instance["hypothesis"])}

    def check(fields: dict) -> str | None:
        premise, hypothesis = fields[first], fields[second]
        problem = pair_check(
            premise,
            hypothesis,
            min_premise_words=min_premise_words,
            max_hypothesis_words=max_hypothesis_words,
            forbid_containing=forbid_containing,
        )
        if problem is None and extra_check is not None:
            problem = extra_check(premise, hypothesis)
        return problem

    def to_superglue(record: dict) -> dict:
        line = {first: record[first], second: record[second], "idx": record["idx"]}
        line["label"] = label_names[record["label"]]
        return {**line, **(superglue_extra(record) if superglue_extra else {})}

    return Task(
        name=name,
        benchmark="super_glue",
        label_names=label_names,
        record_schema=pa.schema(
            [(first, pa.string()), (second, pa.string()), ("idx", pa.int32()), ("label", pa.int64())]
        ),
        seed_noun=seed_noun,
        seed_tokens=seed_tokens,
        instance_tokens=instance_tokens,
        instance_schema={
            "type": "object",
            "properties": {"hypothesis": {"type": "string", "minLength": 1, "maxLength": 400}},
            "required": ["hypothesis"],
            "additionalProperties": False,
        },
        build=build,
        check=check,
        to_superglue=to_superglue,
    )


# CommitmentBank: short texts (often dialogue) with an embedded clause; the hypothesis is that clause.
CB = entailment_task(
    "cb",
    ENTAILMENT_3,
    seed_noun="text",
    seed_tokens=85,  # CB premises average ~60 words
    instance_tokens=20,  # a clause of ~7 words, and the label
    max_hypothesis_words=30,
)
# RTE: a news or encyclopedic passage and a short hypothesis.
RTE = entailment_task(
    "rte",
    ENTAILMENT_2,
    seed_noun="passage",
    seed_tokens=70,  # RTE premises average ~45 words
    instance_tokens=20,  # a sentence of ~9 words, and the label
    max_hypothesis_words=40,
)
# AX-b: sentence pairs that differ in one linguistic phenomenon. Sentence 2 may legitimately be
# sentence 1 plus material (conjunction, an added modifier), so containing it is no copy.
AXB = entailment_task(
    "axb",
    ENTAILMENT_2,
    first="sentence1",
    second="sentence2",
    seed_noun="sentence",
    seed_tokens=30,  # AX-b sentences average ~20 words
    instance_tokens=35,
    max_hypothesis_words=80,
    forbid_containing=False,
)
# AX-g: Winogender recast as entailment. The release's `pair_id` is a per-example id (minimal pairs are
# consecutive lines); rows here are not minimal pairs, so it carries the example's own idx.
AXG = entailment_task(
    "axg",
    ENTAILMENT_2,
    seed_noun="sentence",
    seed_tokens=22,  # one sentence of ~15 words
    instance_tokens=20,
    max_hypothesis_words=30,
    extra_check=axg_check,
    superglue_extra=lambda r: {"pair_id": r["idx"]},
)

TASKS = (CB, RTE, AXB, AXG)
