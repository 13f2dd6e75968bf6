"""A fake OpenAI + Anthropic server on loopback: real HTTP, the real wire formats, task-aware content.

Tests and benchmarks point real SDK clients at it. Every request of either API passes through
`FakeServer.handle`: authentication, rate limits (429 with real headers), latency, content.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

from aiohttp import web

from .content import ContentConfig, UnknownStep, answer, tokens
from .ratelimit import Limits, SlidingWindow


@dataclass(frozen=True)
class FakeConfig:
    content: ContentConfig = field(default_factory=ContentConfig)
    limits: Limits = field(default_factory=Limits)
    latency_ms: tuple[float, float] = (0.0, 0.0)  # uniform range per request
    invalid_keys: frozenset[str] = frozenset()  # keys answered with 401
    error_rate: float = 0.0  # share of admitted requests answered 500


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


class FakeError(Exception):
    """An HTTP error in the wire format of the API that was called."""

    def __init__(self, api: str, status: int, kind: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.headers = status, headers or {}
        if api == "anthropic":
            self.body = {"type": "error", "error": {"type": kind, "message": message}}
        else:
            self.body = {"error": {"message": message, "type": kind, "code": kind}}


@web.middleware
async def _errors(request: web.Request, handler):
    try:
        return await handler(request)
    except FakeError as e:
        return web.json_response(e.body, status=e.status, headers=e.headers)


class FakeServer:
    def __init__(self, config: FakeConfig | None = None):
        self.config = config or FakeConfig()
        self.stats: Counter = Counter()
        self.window = SlidingWindow(self.config.limits)
        self._nonce = itertools.count()
        self.log: list[dict] = []  # one entry per request: what tests count (sent, re-sent, 429ed)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 2**20, middlewares=[_errors])
        app.router.add_post("/v1/chat/completions", self.openai_chat)
        app.router.add_post("/v1/messages", self.anthropic_messages)
        app.router.add_get("/health", lambda _: web.json_response({"ok": True}))
        app.router.add_get(
            "/stats",
            lambda _: web.json_response(
                {
                    **self.stats,
                    "over_limit": self.window.over_limit,
                    **{f"over_limit_{k}": v for k, v in self.window.over_limit_by.items()},
                }
            ),
        )
        app.router.add_get("/log", lambda _: web.json_response(self.log))
        return app

    async def handle(self, call: Call) -> Answer:
        entry = {"t": time.time(), "api": call.api, "schema": call.schema_name, "seed": call.seed, "status": 200}
        self.log.append(entry)
        try:
            return await self._answer(call)
        except FakeError as e:
            entry["status"] = e.status
            raise

    async def _answer(self, call: Call) -> Answer:
        api = call.api
        self.stats[f"{api}.requests"] += 1
        if not call.key or call.key in self.config.invalid_keys:
            self.stats[f"{api}.401"] += 1
            raise FakeError(api, 401, "authentication_error", "invalid API key")
        now = time.monotonic()
        entry, wait = self.window.admit(call.key, now)
        if entry is None:
            self.stats[f"{api}.429"] += 1
            headers = {**self.window.headers(api, call.key, now), "retry-after": str(max(1, round(wait)))}
            if api == "openai":
                headers["retry-after-ms"] = str(int(wait * 1000))
            kind = "rate_limit_error" if api == "anthropic" else "rate_limit_exceeded"
            raise FakeError(api, 429, kind, "rate limit exceeded", headers)
        low, high = self.config.latency_ms
        if high > 0:
            await asyncio.sleep(random.uniform(low, high) / 1000)
        if random.random() < self.config.error_rate:
            self.stats[f"{api}.500"] += 1
            raise FakeError(api, 500, "api_error", "injected server error")
        # A request seed (OpenAI) makes the answer reproducible; without one, vary like a sampler would.
        rng = random.Random(f"{call.prompt}|{call.seed}" if call.seed is not None else next(self._nonce))
        try:
            result = answer(call.schema_name, call.schema, call.prompt, rng, self.config.content)
        except UnknownStep as e:
            raise FakeError(api, 400, "invalid_request_error", str(e)) from None
        self.stats[f"{api}.{call.schema_name}"] += 1
        usage_in, usage_out = tokens(call.input_text), tokens(json.dumps(result))
        entry.tokens = usage_in + usage_out
        return Answer(result, usage_in, usage_out, self.window.headers(api, call.key, time.monotonic()))

    async def openai_chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        fmt = (body.get("response_format") or {}).get("json_schema") or {}
        messages = body["messages"]
        call = Call(
            api="openai",
            key=_bearer(request),
            schema_name=fmt.get("name", ""),
            schema=fmt.get("schema", {}),
            prompt="\n".join(m["content"] for m in messages if m["role"] == "user"),
            input_text=" ".join(m["content"] for m in messages),
            seed=body.get("seed"),
        )
        out = await self.handle(call)
        return web.json_response(
            {
                "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": json.dumps(out.result)},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": out.input_tokens,
                    "completion_tokens": out.output_tokens,
                    "total_tokens": out.input_tokens + out.output_tokens,
                },
            },
            headers=out.headers,
        )

    async def anthropic_messages(self, request: web.Request) -> web.Response:
        body = await request.json()
        tool = (body.get("tools") or [{}])[0]
        prompt = "\n".join(m["content"] for m in body["messages"] if isinstance(m["content"], str))
        call = Call(
            api="anthropic",
            key=request.headers.get("x-api-key") or _bearer(request),
            schema_name=tool.get("name", ""),
            schema=tool.get("input_schema", {}),
            prompt=prompt,
            input_text=f"{body.get('system', '')} {prompt}",
            seed=None,
        )
        out = await self.handle(call)
        return web.json_response(
            {
                "id": f"msg_{uuid.uuid4().hex[:12]}",
                "type": "message",
                "role": "assistant",
                "model": body["model"],
                "content": [
                    {
                        "type": "tool_use",
                        "id": f"toolu_{uuid.uuid4().hex[:12]}",
                        "name": call.schema_name,
                        "input": out.result,
                    }
                ],
                "stop_reason": "tool_use",
                "stop_sequence": None,
                "usage": {"input_tokens": out.input_tokens, "output_tokens": out.output_tokens},
            },
            headers=out.headers,
        )


def _bearer(request: web.Request) -> str:
    return request.headers.get("Authorization", "").removeprefix("Bearer ").strip()


def serve(host: str, port: int, config: FakeConfig) -> None:
    print(f"fake provider on http://{host}:{port} (OpenAI: /v1, Anthropic: /)", flush=True)
    web.run_app(FakeServer(config).app(), host=host, port=port, print=None, access_log=None)
