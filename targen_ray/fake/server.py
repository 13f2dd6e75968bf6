"""A fake OpenAI + Anthropic server on loopback: real HTTP, the real wire formats, task-aware content.

Tests and benchmarks point real SDK clients at it. Every request of either API passes through
`FakeServer.handle`: authentication, rate limits (429 with real headers), injected faults, latency, content.

Faults are drawn once per request from disjoint shares (so each rate is exactly its share of requests,
and a request gets at most one): 429, 500, 503, a hang until the client gives up, an HTTP body cut in
half, well-formed responses whose content breaks the step's schema, and slow answers. Each one is
counted in `/stats` as `API.FAULT` and named in the request's `/log` entry (`fault`).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import random
import time
from collections import Counter
from dataclasses import dataclass, field

from aiohttp import web

from ..config.kinds import MODES
from .batches import BatchConfig, Batches
from .content import ContentConfig, UnknownStep, answer, fallible, tokens
from .ratelimit import Limits, SlidingWindow
from .rehearsal import SERVER
from .wire import (
    Answer,
    Call,
    FakeError,
    UsageReport,
    anthropic_body,
    anthropic_call,
    openai_body,
    openai_call,
    refusal,
)


@dataclass(frozen=True)
class FakeConfig:
    content: ContentConfig = field(default_factory=ContentConfig)
    limits: Limits = field(default_factory=Limits)
    latency_ms: tuple[float, float] = (0.0, 0.0)  # uniform range per request
    invalid_keys: frozenset[str] = frozenset()  # keys answered with 401
    prose_models: frozenset[str] = frozenset()  # models that ignore structured output and answer in prose
    # structured-output modes the server takes; any other is refused (wire.refusal) or ignored (prose)
    accept_modes: frozenset[str] = frozenset(MODES)
    error_rate: float = 0.0  # share of requests answered 500
    rate_limit_rate: float = 0.0  # share answered 429 with a short retry-after, whatever the limits
    unavailable_rate: float = 0.0  # share answered 503 (overloaded)
    hang_rate: float = 0.0  # share never answered: held until the client closes the connection (or hang_s)
    malformed_rate: float = 0.0  # share answered 200 with the HTTP body cut in half (not parseable JSON)
    bad_content_rate: float = 0.0  # share answered 200, well-formed, but the content breaks the step's schema
    slow_rate: float = 0.0  # share answered normally after an extra slow_ms
    slow_ms: float = 2000.0
    hang_s: float = 3600.0
    rate_limit_wait_s: tuple[float, float] = (0.2, 1.0)  # retry-after of an injected 429, uniform
    fault_seed: int | None = None  # fixes which faults the n-th request to arrive gets
    batch: BatchConfig = field(default_factory=BatchConfig)  # the Batch APIs: delay, failed and expired lines
    usage: UsageReport = field(default_factory=UsageReport)  # cached, cache-written and reasoning tokens reported

    def __post_init__(self):
        for name, rate in self.fault_rates().items():
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} rate must be between 0 and 1, got {rate}")
        if sum(self.fault_rates().values()) > 1.0 + 1e-9:
            raise ValueError(f"fault rates add up to more than 1: {self.fault_rates()}")

    def fault_rates(self) -> dict[str, float]:
        """Fault name -> share of requests, in the order the shares are laid out on [0, 1)."""
        return {
            "rate_limit": self.rate_limit_rate,
            "error": self.error_rate,
            "unavailable": self.unavailable_rate,
            "hang": self.hang_rate,
            "malformed": self.malformed_rate,
            "bad_content": self.bad_content_rate,
            "slow": self.slow_rate,
        }


class _ClientGone(Exception):
    """The client closed the connection of a hung request: there is no one to answer."""


@web.middleware
async def _errors(request: web.Request, handler):
    try:
        return await handler(request)
    except FakeError as e:
        return web.json_response(e.body, status=e.status, headers=e.headers)
    except _ClientGone:
        return web.Response(status=499)  # nginx's "client closed request"; never reaches anyone


class FakeServer:
    def __init__(self, config: FakeConfig | None = None):
        self.config = config or FakeConfig()
        self.stats: Counter = Counter()
        self.window = SlidingWindow(self.config.limits)
        self._nonce = itertools.count()
        self.log: list[dict] = []  # one entry per request: what tests count (sent, re-sent, 429ed)
        # Exactly one draw per request from `_faults`, so with a seed the faults of the first n requests are
        # fixed whatever their timing; the details of a fault (how long, which kind of bad) come from another.
        seed = self.config.fault_seed
        self._faults = random.Random(seed)
        self._fault_detail = random.Random(None if seed is None else f"{seed}:detail")
        self.hanging = 0  # requests held open right now by the hang fault

    def app(self) -> web.Application:
        # Bodies up to 300 MB: a batch file may be 200 MB (OpenAI), a message batch 256 MB (Anthropic).
        app = web.Application(client_max_size=300 * 2**20, middlewares=[_errors])
        app.router.add_post("/v1/chat/completions", self.openai_chat)
        app.router.add_post("/v1/messages", self.anthropic_messages)
        Batches(self, self.config.batch).routes(app)
        app.router.add_get("/health", lambda _: web.json_response({"ok": True, "server": SERVER}))
        app.router.add_get(
            "/stats",
            lambda _: web.json_response(
                {
                    **self.stats,
                    "over_limit": self.window.over_limit,
                    "hanging": self.hanging,
                    **{f"over_limit_{k}": v for k, v in self.window.over_limit_by.items()},
                }
            ),
        )
        app.router.add_get("/log", lambda _: web.json_response(self.log))
        return app

    def draw_fault(self) -> str | None:
        """The fault of the next request to arrive (None: answer normally)."""
        u, edge = self._faults.random(), 0.0
        for name, rate in self.config.fault_rates().items():
            edge += rate
            if u < edge:
                return name
        return None

    async def handle(self, call: Call, request: web.Request | None = None, arrived: float | None = None) -> Answer:
        """`arrived`: when the request's headers were read, the time its rate limit counts and the log keeps."""
        arrived = time.time() if arrived is None else arrived
        entry = {
            "t": arrived,
            "api": call.api,
            "schema": call.schema_name,
            "model": call.model,
            "seed": call.seed,
            "status": 200,
            "fault": None,
        }
        self.log.append(entry)
        try:
            return await self._answer(call, entry, request, arrived)
        except FakeError as e:
            entry["status"] = e.status
            raise

    async def _hang(self, request: web.Request | None) -> bool:
        """Hold the request until its client closes the connection (polled: aiohttp does not cancel
        handlers on disconnect) or hang_s passes, so hung requests cost nothing once clients give up.
        True if the client is still there."""
        self.hanging += 1
        try:
            deadline = time.monotonic() + self.config.hang_s
            while time.monotonic() < deadline:
                if request is not None and (request.transport is None or request.transport.is_closing()):
                    return False
                await asyncio.sleep(0.1)
            return True
        finally:
            self.hanging -= 1

    async def _answer(self, call: Call, entry: dict, request: web.Request | None, arrived: float) -> Answer:
        api = call.api
        self.stats[f"{api}.requests"] += 1
        if not call.key or call.key in self.config.invalid_keys:
            self.stats[f"{api}.401"] += 1
            raise FakeError(api, 401, "authentication_error", "invalid API key")
        self.stats[f"{api}.mode.{call.mode}"] += 1
        refused = None if call.mode in self.config.accept_modes else refusal(call)
        if refused is not None:
            self.stats[f"{api}.refused"] += 1
            raise refused
        fault = entry["fault"] = self.draw_fault()
        if fault is not None:
            self.stats[f"{api}.{fault}"] += 1
        if fault == "rate_limit":  # injected, so it takes no place in the sliding window
            wait = self._fault_detail.uniform(*self.config.rate_limit_wait_s)
            headers = {"retry-after": str(max(1, math.ceil(wait)))}
            if api == "openai":
                headers["retry-after-ms"] = str(int(wait * 1000))
            raise _rate_limited(api, headers)
        window_entry, wait = self.window.admit(call.key, arrived)
        if window_entry is None:
            self.stats[f"{api}.429"] += 1
            headers = {**self.window.headers(api, call.key, arrived), "retry-after": str(max(1, round(wait)))}
            if api == "openai":
                headers["retry-after-ms"] = str(int(wait * 1000))
            raise _rate_limited(api, headers)
        low, high = self.config.latency_ms
        if high > 0:
            await asyncio.sleep(random.uniform(low, high) / 1000)
        if fault == "slow":
            await asyncio.sleep(self.config.slow_ms / 1000)
        elif fault == "hang":
            entry["status"] = None  # never answered, unless the client is still there after hang_s
            if not await self._hang(request):
                raise _ClientGone
            entry["status"] = 200
        elif fault == "error":
            self.stats[f"{api}.500"] += 1
            raise FakeError(api, 500, "api_error", "injected server error")
        elif fault == "unavailable":
            kind = "overloaded_error" if api == "anthropic" else "server_error"
            raise FakeError(api, 503, kind, "injected: the server is overloaded, try again later")
        out = self.content(call)
        window_entry.tokens = out.input_tokens + out.output_tokens
        out.headers = self.window.headers(api, call.key, time.time())
        out.fault = fault if fault in ("malformed", "bad_content") else None
        return out

    def content(self, call: Call) -> Answer:
        """The model's answer to a call, with its token counts (no faults, no limits: online and batch)."""
        # A request seed (OpenAI) makes the answer reproducible; without one, vary like a sampler would.
        rng = random.Random(f"{call.prompt}|{call.seed}" if call.seed is not None else next(self._nonce))
        try:
            result = answer(call.schema_name, call.schema, call.prompt, rng, self.config.content)
            result = fallible(result, call.schema_name, call.schema, call.model, call.prompt, self.config.content)
        except UnknownStep as e:
            raise FakeError(call.api, 400, "invalid_request_error", str(e)) from None
        self.stats[f"{call.api}.{call.schema_name}"] += 1
        return self.config.usage.answer(result, tokens(call.input_text), tokens(json.dumps(result)))

    async def openai_chat(self, request: web.Request) -> web.Response:
        arrived = time.time()  # before the body is read: the window counts arrivals, not handling
        body = await request.json()
        call = openai_call(body, _bearer(request))
        out = await self.handle(call, request, arrived)
        prose = body["model"] in self.config.prose_models or call.mode not in self.config.accept_modes
        return _respond(out, openai_body(call, out, body["model"], self._fault_detail, prose))

    async def anthropic_messages(self, request: web.Request) -> web.Response:
        arrived = time.time()
        body = await request.json()
        call = anthropic_call(body, request.headers.get("x-api-key") or _bearer(request))
        out = await self.handle(call, request, arrived)
        prose = body["model"] in self.config.prose_models or call.mode not in self.config.accept_modes
        return _respond(out, anthropic_body(call, out, body["model"], prose))


def _rate_limited(api: str, headers: dict) -> FakeError:
    kind = "rate_limit_error" if api == "anthropic" else "rate_limit_exceeded"
    return FakeError(api, 429, kind, "rate limit exceeded", headers)


def _respond(out: Answer, body: dict) -> web.Response:
    """The API's response; for the malformed fault, a 200 whose JSON body stops halfway."""
    if out.fault == "malformed":
        text = json.dumps(body)
        return web.Response(text=text[: len(text) // 2], content_type="application/json", headers=out.headers)
    return web.json_response(body, headers=out.headers)


def _bearer(request: web.Request) -> str:
    return request.headers.get("Authorization", "").removeprefix("Bearer ").strip()


def serve(host: str, port: int, config: FakeConfig) -> None:
    print(f"fake provider on http://{host}:{port} (OpenAI: /v1, Anthropic: /)", flush=True)
    web.run_app(FakeServer(config).app(), host=host, port=port, print=None, access_log=None)
