"""A fake OpenAI + Anthropic server on loopback: real HTTP, the real wire formats, task-aware content.

Tests and benchmarks point real SDK clients at it. It is built to grow into the adversary of
DESIGN.md section 5 (rate limits, faults): requests pass through `FakeServer.handle`, one place.
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


@dataclass(frozen=True)
class FakeConfig:
    content: ContentConfig = field(default_factory=ContentConfig)
    latency_ms: tuple[float, float] = (0.0, 0.0)  # uniform range per request
    invalid_keys: frozenset[str] = frozenset()  # keys answered with 401


class FakeServer:
    def __init__(self, config: FakeConfig | None = None):
        self.config = config or FakeConfig()
        self.stats: Counter = Counter()
        self._nonce = itertools.count()

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 2**20, middlewares=[_errors])
        app.router.add_post("/v1/chat/completions", self.openai_chat)
        app.router.add_post("/v1/messages", self.anthropic_messages)
        app.router.add_get("/health", lambda _: web.json_response({"ok": True}))
        app.router.add_get("/stats", lambda _: web.json_response(dict(self.stats)))
        return app

    async def handle(self, api: str, key: str, schema_name: str, schema: dict, prompt: str, seed) -> dict:
        """Shared by both APIs: auth, latency, content. Returns the answer or raises web errors."""
        self.stats[f"{api}.requests"] += 1
        if not key or key in self.config.invalid_keys:
            self.stats[f"{api}.401"] += 1
            raise FakeError(api, 401, "authentication_error", "invalid API key")
        low, high = self.config.latency_ms
        if high > 0:
            await asyncio.sleep(random.uniform(low, high) / 1000)
        # A request seed (OpenAI) makes the answer reproducible; without one, vary like a sampler would.
        rng = random.Random(f"{prompt}|{seed}" if seed is not None else f"{prompt}|{next(self._nonce)}")
        try:
            result = answer(schema_name, schema, prompt, rng, self.config.content)
        except UnknownStep as e:
            raise FakeError(api, 400, "invalid_request_error", str(e)) from None
        self.stats[f"{api}.{schema_name}"] += 1
        return result

    async def openai_chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        key = _bearer(request)
        fmt = (body.get("response_format") or {}).get("json_schema") or {}
        prompt = "\n".join(m["content"] for m in body["messages"] if m["role"] == "user")
        result = await self.handle("openai", key, fmt.get("name", ""), fmt.get("schema", {}), prompt, body.get("seed"))
        text = json.dumps(result)
        usage_in, usage_out = tokens(" ".join(m["content"] for m in body["messages"])), tokens(text)
        return web.json_response(
            {
                "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {
                    "prompt_tokens": usage_in,
                    "completion_tokens": usage_out,
                    "total_tokens": usage_in + usage_out,
                },
            }
        )

    async def anthropic_messages(self, request: web.Request) -> web.Response:
        body = await request.json()
        key = (
            request.headers.get("x-api-key") or request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        )
        tool = (body.get("tools") or [{}])[0]
        prompt = "\n".join(m["content"] for m in body["messages"] if isinstance(m["content"], str))
        result = await self.handle("anthropic", key, tool.get("name", ""), tool.get("input_schema", {}), prompt, None)
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
                        "name": tool.get("name", ""),
                        "input": result,
                    }
                ],
                "stop_reason": "tool_use",
                "stop_sequence": None,
                "usage": {
                    "input_tokens": tokens(body.get("system", "") + " " + prompt),
                    "output_tokens": tokens(json.dumps(result)),
                },
            }
        )


def _bearer(request: web.Request) -> str:
    return request.headers.get("Authorization", "").removeprefix("Bearer ").strip()


class FakeError(Exception):
    """An HTTP error in the wire format of the API that was called."""

    def __init__(self, api: str, status: int, kind: str, message: str):
        super().__init__(message)
        self.status = status
        if api == "anthropic":
            self.body = {"type": "error", "error": {"type": kind, "message": message}}
        else:
            self.body = {"error": {"message": message, "type": kind, "code": None}}


@web.middleware
async def _errors(request: web.Request, handler):
    try:
        return await handler(request)
    except FakeError as e:
        return web.json_response(e.body, status=e.status)


def serve(host: str, port: int, config: FakeConfig) -> None:
    print(f"fake provider on http://{host}:{port} (OpenAI: /v1, Anthropic: /)", flush=True)
    web.run_app(FakeServer(config).app(), host=host, port=port, print=None, access_log=None)
