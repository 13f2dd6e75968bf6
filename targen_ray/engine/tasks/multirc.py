"""MultiRC: is a candidate answer to a question about a multi-sentence paragraph correct? Label 1 (True) if so.

The Hugging Face `super_glue/multirc` rows are answer rows: one (paragraph, question, answer) each,
grouped by `idx` = {paragraph, question, answer}. The pipeline makes one row per generated instance, so
here one instance is one answer row: the seed is the paragraph, step 3 writes one question and ONE
candidate answer whose truth is the target label. Each seed is used by one slot only, and `make_idx`
sees the key columns but not the question text, so in what this task produces every question has one
answer (idx.question = idx.answer) and, in practice, every paragraph one question; rows that ever shared
a seed would share idx.paragraph.
"""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc

from . import Task

IDX = pa.struct([("paragraph", pa.int32()), ("question", pa.int32()), ("answer", pa.int32())])
MAX_ANSWER_WORDS = 50
VERDICTS = frozenset({"true", "false", "correct", "incorrect", "right", "wrong"})  # a label, not an answer
SENTENCE_END = re.compile(r"[.!?][\"')\]]*(?:\s|$)")


def _norm(text: str) -> str:
    """Lowercase words and numbers only, for comparisons that ignore case, spacing and punctuation."""
    return " ".join(re.sub(r"[^\w]+", " ", text.lower()).split())


def _multirc_build(seed: str, instance: dict) -> dict:
    # Question and answer go on one line each in the correct prompt: collapse any inner newlines.
    return {
        "paragraph": seed.strip(),
        "question": " ".join(instance["question"].split()),
        "answer": " ".join(instance["answer"].split()),
    }


def _multirc_check(fields: dict) -> str | None:
    paragraph, question, answer = fields["paragraph"], fields["question"], fields["answer"]
    if not paragraph:
        return "empty paragraph"
    if len(SENTENCE_END.findall(paragraph)) < 2:
        return "paragraph has fewer than 2 sentences"
    if len(question.split()) < 3:
        return "question has fewer than 3 words"
    if not question.endswith("?"):
        return "question does not end with '?'"
    if f" {_norm(question)} " in f" {_norm(paragraph)} ":
        return "question copied from the paragraph"
    if not _norm(answer):
        return "empty answer"
    if _norm(answer) == _norm(question):
        return "answer repeats the question"
    if _norm(answer) in VERDICTS:
        return "answer is a verdict word, not an answer"
    if len(answer.split()) > MAX_ANSWER_WORDS:
        return f"answer longer than {MAX_ANSWER_WORDS} words"
    return None


def _multirc_idx(rows: pa.Table) -> pa.Array:
    """idx for one split in idx order: rows from the same seed share `paragraph` (numbered by first
    appearance); each row is its own question with one answer, so `question` and `answer` run 0..n-1.

    Grouping answers under one question by its text would need the instance here; the framework passes
    only the key columns (id, split, final_label, round, seed_id, order).
    """
    seeds = rows["seed_id"].combine_chunks()
    paragraph = pc.index_in(seeds, pc.unique(seeds)).cast(pa.int32())
    running = pa.array(range(rows.num_rows), pa.int32())
    return pa.StructArray.from_arrays([paragraph, running, running], fields=list(IDX))


def _multirc_superglue(r: dict) -> dict:
    """The original MultiRC JSONL nests answers in questions in a passage. Export sees one record at a
    time, so each line wraps one paragraph, one question and its one answer; the Hugging Face loader
    flattens it back to the same row."""
    idx = r["idx"]
    return {
        "idx": idx["paragraph"],
        "version": 1.1,
        "passage": {
            "text": r["paragraph"],
            "questions": [
                {
                    "question": r["question"],
                    "answers": [{"text": r["answer"], "idx": idx["answer"], "label": int(r["label"])}],
                    "idx": idx["question"],
                }
            ],
        },
    }


MULTIRC = Task(
    name="multirc",
    benchmark="super_glue",
    task_categories=("question-answering",),
    label_names=("False", "True"),
    question_fields=("paragraph", "question"),
    record_schema=pa.schema(
        [
            ("paragraph", pa.string()),
            ("question", pa.string()),
            ("answer", pa.string()),
            ("idx", IDX),
            ("label", pa.int64()),
        ]
    ),
    seed_noun="paragraph",
    seed_tokens=270,  # the seeds prompt asks for 150-250 words (MultiRC paragraphs run to several hundred)
    instance_tokens=35,  # a question of ~12 words, an answer of ~5, and the label
    instance_schema={
        "type": "object",
        "properties": {
            "question": {"type": "string", "minLength": 1, "maxLength": 300},
            "answer": {"type": "string", "minLength": 1, "maxLength": 300},
        },
        "required": ["question", "answer"],
        "additionalProperties": False,
    },
    build=_multirc_build,
    check=_multirc_check,
    make_idx=_multirc_idx,
    to_superglue=_multirc_superglue,
)

TASKS = (MULTIRC,)
