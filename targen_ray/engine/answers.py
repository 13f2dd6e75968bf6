"""The JSON object in what a model wrote, the way real models write it.

Structured output does not always hold: a server without it (prompt mode), a gateway that drops the
forced tool call, a reasoning model. So the answer is read from ```json fences, from prose around
the object, after `<think>...</think>` blocks, and, when the content has none, from the reasoning a
server split off (`reasoning_content`). What cannot be read says why, for rejects/.
"""

from __future__ import annotations

import json
import re

_THINK = re.compile(r"<think>.*?</think>", re.S | re.I)
_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.S)


def extract(text: str, reasoning: str | None = None) -> dict | str:
    """The first JSON object in `text` (else in `reasoning`), or why there is none."""
    found = _first_object(text)
    if isinstance(found, dict):
        return found
    if reasoning:
        again = _first_object(reasoning)
        if isinstance(again, dict):
            return again
    return found


def _first_object(text: str) -> dict | str:
    text = _THINK.sub("", text or "")
    if re.search(r"<think>", text, re.I):  # thinking that never ended: the answer was cut off inside it
        return "invalid JSON: the answer ends inside a <think> block"
    stripped = text.strip()
    if not stripped:
        return "invalid JSON: empty answer"
    candidates = [stripped, *(m.group(1).strip() for m in _FENCE.finditer(text))]
    first_error = None
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except json.JSONDecodeError as e:
            first_error = first_error or e
            continue
        if isinstance(value, dict):
            return value
    decoder = json.JSONDecoder()
    for m in re.finditer(r"\{", stripped):  # prose around the object: the first place one decodes
        try:
            value, _ = decoder.raw_decode(stripped, m.start())
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    if first_error is None:
        return "invalid JSON: not an object"
    return f"invalid JSON: {first_error.msg}"
