"""The two APIs' wire formats, as the fake server speaks them: requests read into one shape (`Call`),
answers written as a chat.completion or a message, errors in each API's error body."""

from __future__ import annotations

import json
import random
import time
import uuid
from dataclasses import dataclass


@dataclass(frozen=True)
class Call:
    """What both APIs ask, in one shape."""

    api: str
    key: str
    schema_name: str
    schema: dict
    prompt: str  # the user turn
    input_text: str  # everything the model reads, for token counts
    seed: int | None


@dataclass
class Answer:
    result: dict
    input_tokens: int
    output_tokens: int
    headers: dict
    fault: str | None = None  # "malformed" or "bad_content": how the response must be broken on the wire


class FakeError(Exception):
    """An HTTP error in the wire format of the API that was called."""

    def __init__(self, api: str, status: int, kind: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.headers = status, headers or {}
        if api == "anthropic":
            self.body = {"type": "error", "error": {"type": kind, "message": message}}
        else:
            self.body = {"error": {"message": message, "type": kind, "code": kind}}


def openai_call(body: dict, key: str) -> Call:
    fmt = (body.get("response_format") or {}).get("json_schema") or {}
    messages = body["messages"]
    return Call(
        api="openai",
        key=key,
        schema_name=fmt.get("name", ""),
        schema=fmt.get("schema", {}),
        prompt="\n".join(m["content"] for m in messages if m["role"] == "user"),
        input_text=" ".join(m["content"] for m in messages),
        seed=body.get("seed"),
    )


def prose(result: dict) -> str:
    """The answer as a model that ignores the requested schema writes it: sentences, no JSON."""
    said = ", ".join(f"the {k} is {v}" for k, v in result.items() if isinstance(v, str))
    return f"Sure! Having read it carefully, I would say {said or 'it is fine'}."


def openai_body(call: Call, out: Answer, model: str, rng: random.Random, in_prose: bool = False) -> dict:
    """A chat.completion; for the bad_content fault, its JSON text cut off (as at max_tokens) or an object
    the schema refuses; `in_prose`, no JSON at all."""
    content = prose(out.result) if in_prose else json.dumps(out.result)
    if out.fault == "bad_content":
        broken = rng.random() < 0.5
        content = content[: len(content) // 2] if broken else json.dumps(drop_required(out.result, call.schema))
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": out.input_tokens,
            "completion_tokens": out.output_tokens,
            "total_tokens": out.input_tokens + out.output_tokens,
        },
    }


def anthropic_call(body: dict, key: str) -> Call:
    tool = (body.get("tools") or [{}])[0]
    prompt = "\n".join(m["content"] for m in body["messages"] if isinstance(m["content"], str))
    return Call(
        api="anthropic",
        key=key,
        schema_name=tool.get("name", ""),
        schema=tool.get("input_schema", {}),
        prompt=prompt,
        input_text=f"{body.get('system', '')} {prompt}",
        seed=None,
    )


def anthropic_body(call: Call, out: Answer, model: str, in_prose: bool = False) -> dict:
    """A message whose content is the forced tool call; tool inputs are always objects, so the bad_content
    fault is one missing a required field. `in_prose`: a text block instead, as llama.cpp's server
    answers when it does not honour the forced tool."""
    result = drop_required(out.result, call.schema) if out.fault == "bad_content" else out.result
    if in_prose:
        content, stop = [{"type": "text", "text": prose(result)}], "end_turn"
    else:
        content = [
            {"type": "tool_use", "id": f"toolu_{uuid.uuid4().hex[:12]}", "name": call.schema_name, "input": result}
        ]
        stop = "tool_use"
    return {
        "id": f"msg_{uuid.uuid4().hex[:12]}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {"input_tokens": out.input_tokens, "output_tokens": out.output_tokens},
    }


def drop_required(result: dict, schema: dict) -> dict:
    """The answer without its last required field: well-formed JSON that breaks the step's schema."""
    present = [k for k in schema.get("required", []) if k in result] or list(result)
    return {k: v for k, v in result.items() if k != present[-1]} if present else {"unexpected": True}
