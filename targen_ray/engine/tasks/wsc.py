"""WSC (the `wsc.fixed` config): a sentence, a candidate noun phrase (span1) and a pronoun (span2);
label 1 (True) when the pronoun refers to the noun phrase.

The seed is the text itself (step 3 may not rewrite it). The model names the two spans by their words
and, when the words occur more than once, by which occurrence; `build` finds them and records their
word indices in the text split on spaces, as SuperGLUE does, and the span texts as the text spells them.
"""

from __future__ import annotations

import pyarrow as pa

from . import Task

PRONOUNS = frozenset(
    "i me my mine myself we us our ours ourselves you your yours yourself yourselves "
    "he him his himself she her hers herself it its itself they them their theirs themselves".split()
)
EDGE = "\"'.,;:!?()[]{}“”‘’«»"  # stripped from a span's outer ends (WSC's span texts carry no punctuation)


def _bare(token: str) -> str:
    return token.strip(EDGE).lower()


def find_span(tokens: list[str], span: str, occurrence: int = 1) -> int:
    """Word index of the `occurrence`-th (1-based) match of `span` in `tokens`, ignoring case and the
    punctuation glued to words; -1 if there is no such match."""
    words = [_bare(w) for w in span.split()]
    if not words or not all(words) or occurrence < 1:
        return -1
    k, seen = len(words), 0
    for i in range(len(tokens) - k + 1):
        if [_bare(t) for t in tokens[i : i + k]] == words:
            seen += 1
            if seen == occurrence:
                return i
    return -1


def span_text(tokens: list[str], index: int, k: int) -> str:
    """The span's words as the text writes them, without the punctuation at its two ends."""
    return " ".join(tokens[index : index + k]).strip(EDGE)


def _wsc_build(seed: str, instance: dict) -> dict:
    text = " ".join(seed.split())  # single spaces, so the word indices of split() and split(" ") agree
    tokens = text.split(" ")
    fields = {"text": text}
    for n in (1, 2):
        given = instance[f"span{n}_text"].strip()
        index = find_span(tokens, given, instance[f"span{n}_occurrence"])
        fields[f"span{n}_index"] = index
        fields[f"span{n}_text"] = span_text(tokens, index, len(given.split())) if index >= 0 else given
    return {k: fields[k] for k in ("text", "span1_index", "span2_index", "span1_text", "span2_text")}


def _wsc_check(fields: dict) -> str | None:
    text = fields["text"]
    if not text.strip():
        return "empty text"
    tokens = text.split(" ")
    ranges = []
    for n in (1, 2):
        index, words = fields[f"span{n}_index"], fields[f"span{n}_text"].split()
        if not words:
            return f"empty span{n}_text"
        if index < 0:
            return f"span{n} {fields[f'span{n}_text']!r} not found in the text"
        if index + len(words) > len(tokens) or [_bare(t) for t in tokens[index : index + len(words)]] != [
            _bare(w) for w in words
        ]:
            return f"span{n}_index {index} does not point at {fields[f'span{n}_text']!r}"
        ranges.append(range(index, index + len(words)))
    span2 = fields["span2_text"]
    if len(span2.split()) != 1 or _bare(span2) not in PRONOUNS:
        return f"span2 {span2!r} is not a pronoun"
    if ranges[0] == ranges[1] or _bare(fields["span1_text"]) == _bare(span2):
        return "span1 and span2 are the same"
    if set(ranges[0]) & set(ranges[1]):
        return "span1 and span2 overlap"
    return None


WSC = Task(
    name="wsc",
    benchmark="super_glue",
    hf_config="wsc.fixed",
    label_names=("False", "True"),
    record_schema=pa.schema(
        [
            ("text", pa.string()),
            ("span1_index", pa.int32()),
            ("span2_index", pa.int32()),
            ("span1_text", pa.string()),
            ("span2_text", pa.string()),
            ("idx", pa.int32()),
            ("label", pa.int64()),
        ]
    ),
    seed_noun="sentence",
    seed_tokens=30,  # WSC texts are one or two sentences of ~20 words
    instance_tokens=40,  # two short spans, their occurrences and the label, with JSON keys
    instance_schema={
        "type": "object",
        "properties": {
            "span1_text": {"type": "string", "minLength": 1, "maxLength": 100},
            "span1_occurrence": {"type": "integer", "minimum": 1},
            "span2_text": {"type": "string", "minLength": 1, "maxLength": 30},
            "span2_occurrence": {"type": "integer", "minimum": 1},
        },
        "required": ["span1_text", "span1_occurrence", "span2_text", "span2_occurrence"],
        "additionalProperties": False,
    },
    build=_wsc_build,
    check=_wsc_check,
    # SuperGLUE's WSC JSONL nests the spans under "target" and writes the label as a JSON boolean.
    to_superglue=lambda r: {
        "text": r["text"],
        "target": {
            "span1_index": r["span1_index"],
            "span1_text": r["span1_text"],
            "span2_index": r["span2_index"],
            "span2_text": r["span2_text"],
        },
        "idx": r["idx"],
        "label": bool(r["label"]),
    },
)

TASKS = (WSC,)
