"""WiC: a word and two sentences that use it; label 1 (True) when the word has the same sense in both.

The model writes the word (dictionary form), both sentences, and the exact form it used in each (e.g.
"ran" for "run"); `build` finds that form as a whole word and records its character offsets
(`start` inclusive, `end` exclusive, as in SuperGLUE's WiC files), so offsets never come from the model.
"""

from __future__ import annotations

import re

import pyarrow as pa

from . import Task

# Forms that do not start with their dictionary form's first letter (WiC words are nouns and verbs).
IRREGULAR = {"be": {"am", "is", "are", "was", "were"}, "go": {"went"}}


def find_form(sentence: str, form: str) -> tuple[int, int]:
    """Character offsets [start, end) of the first whole-word occurrence of `form` (exact case first,
    then any case), or (-1, -1)."""
    form = form.strip()
    if not form:
        return -1, -1
    pattern = rf"(?<!\w){re.escape(form)}(?!\w)"
    m = re.search(pattern, sentence) or re.search(pattern, sentence, re.I)
    return (m.start(), m.end()) if m else (-1, -1)


def is_form_of(token: str, word: str) -> bool:
    """A loose test that `token` is an inflection of `word`: same first letter, or a known irregular."""
    token, word = token.lower(), word.lower()
    return token[:1] == word[:1] or token in IRREGULAR.get(word, ())


def _wic_build(seed: str, instance: dict) -> dict:
    fields = {"word": instance["word"].strip().lower()}
    for i in (1, 2):
        fields[f"sentence{i}"] = instance[f"sentence{i}"].strip()
    (start1, end1), (start2, end2) = (find_form(fields[f"sentence{i}"], instance[f"form{i}"]) for i in (1, 2))
    return {**fields, "start1": start1, "start2": start2, "end1": end1, "end2": end2}


def _wic_check(fields: dict) -> str | None:
    word = fields["word"]
    if not word or len(word.split()) != 1:
        return f"word {word!r} is not a single word"
    s1, s2 = fields["sentence1"], fields["sentence2"]
    if " ".join(s1.lower().split()) == " ".join(s2.lower().split()):
        return "sentence1 and sentence2 are the same"
    for i in (1, 2):
        sentence, start, end = fields[f"sentence{i}"], fields[f"start{i}"], fields[f"end{i}"]
        if start < 0 or end < 0:
            return f"the word's form is missing from sentence{i}"
        if not 0 <= start < end <= len(sentence):
            return f"offsets {start}:{end} are outside sentence{i}"
        span = sentence[start:end]
        cut = (start > 0 and sentence[start - 1].isalnum()) or (end < len(sentence) and sentence[end].isalnum())
        if cut or not re.fullmatch(r"\w[\w'-]*", span):
            return f"offsets {start}:{end} of sentence{i} ({span!r}) are not one whole word"
        if not is_form_of(span, word):
            return f"sentence{i}[{start}:{end}] is {span!r}, not a form of {word!r}"
    return None


WIC = Task(
    name="wic",
    benchmark="super_glue",
    label_names=("False", "True"),
    record_schema=pa.schema(
        [
            ("word", pa.string()),
            ("sentence1", pa.string()),
            ("sentence2", pa.string()),
            ("start1", pa.int32()),
            ("start2", pa.int32()),
            ("end1", pa.int32()),
            ("end2", pa.int32()),
            ("idx", pa.int32()),
            ("label", pa.int64()),
        ]
    ),
    seed_noun="word entry",
    seed_tokens=40,  # a word, its part of speech and two one-line senses
    instance_tokens=60,  # two sentences of ~10-15 words, the word and its two forms, the label
    instance_schema={
        "type": "object",
        "properties": {
            "word": {"type": "string", "minLength": 1, "maxLength": 40},
            "sentence1": {"type": "string", "minLength": 1, "maxLength": 400},
            "form1": {"type": "string", "minLength": 1, "maxLength": 40},
            "sentence2": {"type": "string", "minLength": 1, "maxLength": 400},
            "form2": {"type": "string", "minLength": 1, "maxLength": 40},
        },
        "required": ["word", "sentence1", "form1", "sentence2", "form2"],
        "additionalProperties": False,
    },
    build=_wic_build,
    check=_wic_check,
    # SuperGLUE's WiC JSONL: the label as a JSON boolean, and the WiC release's version.
    to_superglue=lambda r: {
        "word": r["word"],
        "sentence1": r["sentence1"],
        "sentence2": r["sentence2"],
        "idx": r["idx"],
        "label": bool(r["label"]),
        "start1": r["start1"],
        "start2": r["start2"],
        "end1": r["end1"],
        "end2": r["end2"],
        "version": 1.1,
    },
)

TASKS = (WIC,)
