"""The Batch APIs' objects and result lines as OpenAI and Anthropic write them (batches.py keeps the state)."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime


def openai_line(result: dict) -> dict:
    """One line of an OpenAI batch's output or error file."""
    line = {
        "id": f"batch_req_{uuid.uuid4().hex[:12]}",
        "custom_id": result["custom_id"],
        "response": None,
        "error": None,
    }
    if result["fate"] == "succeeded":
        line["response"] = {"status_code": 200, "request_id": uuid.uuid4().hex, "body": result["body"]}
    elif result["fate"] == "errored":
        error = {
            "message": result.get("message", "injected server error"),
            "type": "server_error",
            "code": "server_error",
        }
        line["response"] = {"status_code": 500, "request_id": uuid.uuid4().hex, "body": {"error": error}}
    elif result["fate"] == "cancelled":
        line["error"] = {"code": "batch_cancelled", "message": "This request was cancelled with its batch."}
    else:
        line["error"] = {
            "code": "batch_expired",
            "message": "This request could not be executed before the completion window expired.",
        }
    return line


def anthropic_batch(batch_id: str, batch, counts: dict[str, int]) -> dict:
    """An Anthropic message batch object (`batch`: the fake's record of it)."""
    ended = batch.results is not None
    return {
        "id": batch_id,
        "type": "message_batch",
        "processing_status": "ended" if ended else "in_progress",
        "request_counts": {
            "processing": 0 if ended else len(batch.lines),
            "succeeded": counts["succeeded"],
            "errored": counts["errored"],
            "canceled": counts["cancelled"],
            "expired": counts["expired"],
        },
        "created_at": _rfc3339(batch.created),
        "expires_at": _rfc3339(batch.created + 86_400),
        "ended_at": _rfc3339(time.time()) if ended else None,
        "archived_at": None,
        "cancel_initiated_at": _rfc3339(batch.cancelled_at) if batch.cancelled_at else None,
        "results_url": f"{batch.base_url}/v1/messages/batches/{batch_id}/results" if ended else None,
    }


def anthropic_line(r: dict) -> str:
    """One line of an Anthropic batch's results."""
    if r["fate"] == "succeeded":
        result = {"type": "succeeded", "message": r["body"]}
    elif r["fate"] == "errored":
        error = {"type": "api_error", "message": r.get("message", "injected server error")}
        result = {"type": "errored", "error": {"type": "error", "error": error}}
    else:
        result = {"type": {"cancelled": "canceled"}.get(r["fate"], r["fate"])}
    return json.dumps({"custom_id": r["custom_id"], "result": result}) + "\n"


def _rfc3339(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")
