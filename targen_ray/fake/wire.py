"""The two APIs' wire formats, as the fake server speaks them: requests read into one shape (`Call`),
answers written as a chat.completion or a message, errors in each API's error body."""

from __future__ import annotations

import json
import random
import re
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
    mode: str = "json_schema"  # how the request asks for JSON (config/kinds.py MODES)
    model: str = ""


@dataclass
class Answer:
    result: dict
    input_tokens: int  # every prompt token
    output_tokens: int  # the answer's and the reasoning's
    headers: dict
    fault: str | None = None  # "malformed" or "bad_content": how the response must be broken on the wire
    cached_tokens: int = 0  # prompt tokens read from the prompt cache
    cache_write_tokens: int = 0  # prompt tokens written to it (Anthropic reports them; OpenAI bills none)
    reasoning_tokens: int = 0  # output tokens spent reasoning (OpenAI reports them; Anthropic counts them in)


@dataclass(frozen=True)
class UsageReport:
    """The usage details the fake reports, as shares: of the prompt tokens read from and written to the
    provider's prompt cache, and reasoning tokens added to an answer's own output tokens."""

    cached_share: float = 0.0
    cache_write_share: float = 0.0
    reasoning_share: float = 0.0

    def __post_init__(self):
        for name, share in vars(self).items():
            if not 0.0 <= share <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {share}")
        if self.cached_share + self.cache_write_share > 1.0:
            raise ValueError("cached_share and cache_write_share add up to more than 1")

    def answer(self, result: dict, prompt_tokens: int, answer_tokens: int) -> Answer:
        """An answer with these shares of its tokens reported as cached, written and reasoning."""
        reasoning = int(answer_tokens * self.reasoning_share)
        return Answer(
            result,
            prompt_tokens,
            answer_tokens + reasoning,
            {},
            cached_tokens=int(prompt_tokens * self.cached_share),
            cache_write_tokens=int(prompt_tokens * self.cache_write_share),
            reasoning_tokens=reasoning,
        )


class FakeError(Exception):
    """An HTTP error in the wire format of the API that was called."""

    def __init__(self, api: str, status: int, kind: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.headers = status, headers or {}
        if api == "anthropic":
            self.body = {"type": "error", "error": {"type": kind, "message": message}}
        else:
            self.body = {"error": {"message": message, "type": kind, "code": kind}}


# `prompt` mode names the schema in the system prompt (providers/base.py `with_schema`)
_IN_PROMPT = re.compile(r"JSON schema \((\w+)\):\n(\{.*\})\s*$", re.S)


def openai_call(body: dict, key: str) -> Call:
    """A chat-completions request in any structured-output mode; a mode with no name slot (json_object,
    vllm) names its schema in the schema's `title` (steps/base.py), as the fake needs to route it."""
    fmt = body.get("response_format") or {}
    messages = body["messages"]
    system = "\n".join(m["content"] for m in messages if m["role"] == "system")
    tools = body.get("tools") or []
    if fmt.get("type") == "json_schema":
        mode, name, schema = "json_schema", fmt["json_schema"].get("name", ""), fmt["json_schema"].get("schema", {})
    elif fmt.get("type") == "json_object":
        schema = fmt.get("schema") or {}
        mode, name = "json_object", schema.get("title", "")
    elif "guided_json" in body:
        mode, schema = "vllm", body["guided_json"]
        name = schema.get("title", "")
    elif tools:
        mode, name, schema = "tools", tools[0]["function"]["name"], tools[0]["function"].get("parameters", {})
    else:
        found = _IN_PROMPT.search(system)
        mode, name, schema = "prompt", found.group(1) if found else "", json.loads(found.group(2)) if found else {}
    return Call(
        api="openai",
        key=key,
        schema_name=name,
        schema=schema,
        prompt="\n".join(m["content"] for m in messages if m["role"] == "user"),
        input_text=" ".join(m["content"] for m in messages),
        seed=body.get("seed"),
        mode=mode,
        model=body.get("model", ""),
    )


def prose(result: dict) -> str:
    """The answer as a model that ignores the requested schema writes it: sentences, no JSON."""
    said = ", ".join(f"the {k} is {v}" for k, v in result.items() if isinstance(v, str))
    return f"Sure! Having read it carefully, I would say {said or 'it is fine'}."


def openai_body(call: Call, out: Answer, model: str, rng: random.Random, in_prose: bool = False) -> dict:
    """A chat.completion; for the bad_content fault, its JSON text cut off (as at max_tokens) or an object
    the schema refuses; `in_prose`, no JSON at all. In `prompt` mode the JSON comes in a ```json fence
    after a sentence, as models write it unconstrained; in `tools` mode, as the forced call's arguments."""
    content = prose(out.result) if in_prose else json.dumps(out.result)
    if out.fault == "bad_content":
        broken = rng.random() < 0.5
        content = content[: len(content) // 2] if broken else json.dumps(drop_required(out.result, call.schema))
    message: dict = {"role": "assistant", "content": content}
    if call.mode == "prompt" and not in_prose:
        message["content"] = f"Here is the answer.\n\n```json\n{content}\n```\nI hope this helps."
    elif call.mode == "tools" and not in_prose:
        function = {"name": call.schema_name, "arguments": content}
        message = {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": f"call_{uuid.uuid4().hex[:12]}", "type": "function", "function": function}],
        }
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "message": message, "finish_reason": "tool_calls" if "tool_calls" in message else "stop"}
        ],
        "usage": {  # prompt_tokens counts the cached ones, completion_tokens the reasoning ones (as OpenAI's do)
            "prompt_tokens": out.input_tokens,
            "completion_tokens": out.output_tokens,
            "total_tokens": out.input_tokens + out.output_tokens,
            "prompt_tokens_details": {"cached_tokens": out.cached_tokens, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": out.reasoning_tokens, "audio_tokens": 0},
        },
    }


def anthropic_call(body: dict, key: str) -> Call:
    tool = (body.get("tools") or [None])[0]
    prompt = "\n".join(m["content"] for m in body["messages"] if isinstance(m["content"], str))
    found = None if tool else _IN_PROMPT.search(body.get("system", ""))
    return Call(
        api="anthropic",
        key=key,
        schema_name=tool["name"] if tool else found.group(1) if found else "",
        schema=tool.get("input_schema", {}) if tool else json.loads(found.group(2)) if found else {},
        prompt=prompt,
        input_text=f"{body.get('system', '')} {prompt}",
        seed=None,
        mode="tools" if tool else "prompt",
        model=body.get("model", ""),
    )


def refusal(call: Call) -> FakeError | None:
    """How a server without `call.mode` answers it (None: it ignores what it does not know, and the
    answer comes back as prose): llama-cpp-python's server validates response_format and answers a
    json_schema with a 500; servers without JSON mode or tools say 400."""
    if call.mode == "json_schema":
        message = (
            "1 validation error for CreateChatCompletionRequest response_format.type Input should be 'text' or "
            "'json_object' [type=literal_error, input_value='json_schema', input_type=str]"
        )
        return FakeError(call.api, 500, "internal_server_error", message)
    if call.mode == "json_object":
        return FakeError(call.api, 400, "invalid_request_error", "response_format json_object is not supported")
    if call.mode == "tools" and call.api == "openai":
        return FakeError(call.api, 400, "invalid_request_error", "tools are not supported by this server")
    return None


def anthropic_body(call: Call, out: Answer, model: str, in_prose: bool = False) -> dict:
    """A message whose content is the forced tool call; tool inputs are always objects, so the bad_content
    fault is one missing a required field. `in_prose`: a text block instead, as llama.cpp's server
    answers when it does not honour the forced tool."""
    result = drop_required(out.result, call.schema) if out.fault == "bad_content" else out.result
    if in_prose or call.mode == "prompt":
        text = prose(result) if in_prose else f"Here is the answer:\n```json\n{json.dumps(result)}\n```"
        content, stop = [{"type": "text", "text": text}], "end_turn"
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
        "usage": {  # input_tokens leaves out the tokens read from and written to the cache (as Anthropic's does)
            "input_tokens": out.input_tokens - out.cached_tokens - out.cache_write_tokens,
            "cache_read_input_tokens": out.cached_tokens,
            "cache_creation_input_tokens": out.cache_write_tokens,
            "output_tokens": out.output_tokens,
        },
    }


def drop_required(result: dict, schema: dict) -> dict:
    """The answer without its last required field: well-formed JSON that breaks the step's schema."""
    present = [k for k in schema.get("required", []) if k in result] or list(result)
    return {k: v for k, v in result.items() if k != present[-1]} if present else {"unexpected": True}
