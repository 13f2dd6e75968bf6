"""What becomes of a row's answer, whichever way the step ran: one answer policy (`verdict_on`: the step's
fields, or why not and whether the row is tried again within `parse_retries`) and one row format (the
input row, the step's fields, its ledger, and `error` when it failed)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pyarrow as pa

from ..pool import Usage
from ..providers import Response
from ..providers.base import TOKENS
from ..steps import Step

LEDGER_FIELDS = [
    ("endpoint", pa.string()),
    ("model", pa.string()),
    ("requests", pa.int32()),
    *[(k, pa.int64()) for k in TOKENS],
    ("usd", pa.float64()),
    ("ledger", pa.string()),  # JSON: per endpoint, every attempt's requests, tokens, USD, 429s, errors
    ("raw", pa.string()),  # the last answer's text, kept for audit and for rejects
    ("intent", pa.string()),  # the intent record that counted the row's requests as sent (intents.py)
]


@dataclass(frozen=True)
class Verdict:
    fields: dict | None  # the step's fields, when the answer is usable
    reason: str | None = None  # why it is not
    again: bool = False  # the row is tried again: its answer tries are not spent
    room: int = 1  # the next try's max_tokens, as a multiple of the step's


def verdict_on(step: Step, response: Response, row: dict, attempt: int, room: int = 1) -> Verdict:
    """One answer to `row` (its try number `attempt`, from 0) under the step's checks. A truncated
    answer is tried again once with twice the room."""
    parsed = step.fields_from(response, row)
    if not isinstance(parsed, str):
        return Verdict(parsed)
    again = attempt < step.spec.parse_retries
    if response.finish_reason == "length" and room == 1:
        return Verdict(None, f"truncated at max_tokens ({parsed})", again, 2)
    return Verdict(None, parsed, again, room)


def output_schema(step: type[Step] | Step, input_schema: pa.Schema) -> pa.Schema:
    extra = [
        *step.fields,
        *[(f"{step.name}_{k}", t) for k, t in LEDGER_FIELDS],
        ("error", pa.string()),
        ("fatal", pa.string()),  # why the stage must stop on this row: "budget" or "error"
    ]
    return pa.schema([*input_schema, *[pa.field(k, t) for k, t in extra]])


def outcome_row(
    step: Step,
    row: dict,
    fields: dict | None,
    usage: Usage,
    endpoint,
    raw: str,
    error: str | None,
    fatal: str | None = None,
) -> dict:
    """The input row plus the step's fields and its ledger; `endpoint` is the one that answered last."""
    meta = {
        "endpoint": endpoint.name if endpoint else None,
        "model": endpoint.spec.model if endpoint else None,
        "requests": int(usage.total("requests")),
        **{k: int(usage.total(k)) for k in TOKENS},
        "usd": usage.total("usd"),
        "ledger": json.dumps(usage.by_endpoint),
        "raw": raw,
        "intent": None,  # set by the worker that sent the row (a batch's record is its intent)
    }
    fields = fields or dict.fromkeys(k for k, _ in step.fields)
    ledger = {f"{step.name}_{k}": v for k, v in meta.items()}
    return {**row, **fields, **ledger, "error": error, "fatal": fatal}
