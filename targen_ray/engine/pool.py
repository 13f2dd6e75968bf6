"""A step's pool of endpoints: routing by weight and spare capacity, failover, retries, cost ledger.

SDK retries are off (max_retries=0) so every attempt passes through here: through the cluster-wide
limiter before it is sent, and into the row's ledger after, whatever its outcome.
"""

from __future__ import annotations

import asyncio
import random
import re
from dataclasses import dataclass, field

from ..config import EndpointSpec
from ..errors import FatalError, ProviderError, RateLimited
from . import metrics
from .breakers import AdaptiveLimit, Breaker
from .limits import BudgetClient, Pacer
from .providers import Provider, Request, Response, build_provider
from .providers.base import TOKENS, RetryPolicy, estimate_tokens

REPEATS = 2  # identical request-validation 5xx answers in a row that make a failure deterministic
REFUSAL = re.compile(
    r"validation error|input should be|invalid|not supported|unsupported|unrecogni[sz]ed|unknown (field|param)"
    r"|extra (fields|inputs)|schema",
    re.I,
)


@dataclass
class Usage:
    """What one row's requests cost, per endpoint: every attempt counts, failed and retried ones too."""

    by_endpoint: dict[str, dict] = field(default_factory=dict)

    def add(self, endpoint: Endpoint, response: Response | None, outcome: str, batch: bool = False) -> None:
        """One attempt; a batch request is its own ledger entry (`NAME/batch`), priced at the batch rate."""
        entry = self.by_endpoint.setdefault(
            f"{endpoint.name}/batch" if batch else endpoint.name,
            {"model": endpoint.spec.model, "requests": 0, **dict.fromkeys(TOKENS, 0), "usd": 0.0}
            | {"rate_limited": 0, "errors": 0},
        )
        entry["requests"] += 1
        if outcome == "rate_limited":
            entry["rate_limited"] += 1
        elif outcome == "error":
            entry["errors"] += 1
        if response is not None:
            for k in TOKENS:
                entry[k] += getattr(response, k)
            entry["usd"] += response.usd(endpoint.spec.batch_price if batch else endpoint.spec.price)

    def total(self, key: str) -> float:
        return sum(e[key] for e in self.by_endpoint.values())


class Endpoint:
    """One endpoint as seen from one worker: its client, its pacer on the limiter, its health."""

    def __init__(self, name: str, spec: EndpointSpec, limiter=None):
        self.name, self.spec = name, spec
        self.pacer = Pacer(limiter) if limiter is not None else None
        self.breaker = Breaker()
        self.concurrency = AdaptiveLimit(spec.max_concurrency, adaptive=limiter is None)
        self._provider: Provider | None = None
        self._last_failure, self._repeats = "", 0

    def provider(self) -> Provider:
        if self._provider is None:  # built on first use, so a setup error stops the run cleanly
            self._provider = build_provider(self.name, self.spec)
        return self._provider

    def load(self) -> float:
        """How busy this endpoint is here, relative to what it may carry."""
        return self.concurrency.in_flight / max(self.concurrency.limit, 1)

    def transient(self, error: ProviderError) -> bool:
        """Whether a failure may pass if retried. A 4xx (but 408/409/429) never does; nor does a 5xx whose
        body is the same request-validation error REPEATS times in a row (llama-cpp-python's server answers
        a response_format it refuses with a 500): classified once, so every later row fails at its first
        attempt, not after five. An outage's 5xx ("the server had an error") stays transient."""
        if not error.retryable:
            return False
        if error.status is not None and error.status >= 500 and REFUSAL.search(str(error)):
            same = str(error) == self._last_failure
            self._repeats, self._last_failure = (self._repeats + 1 if same else 1), str(error)
            if self._repeats >= REPEATS:
                error.retryable = False
                error.args = (f"{error} (the same {REPEATS} times: a request the server refuses, not an outage)",)
                return False
        return True


class Pool:
    def __init__(self, endpoints: list[Endpoint], budget=None, policy: RetryPolicy | None = None, labels=("", "")):
        """`labels`: the (job, stage) this pool serves, for metrics."""
        self.endpoints = endpoints
        self.budget = BudgetClient(budget) if budget is not None else None
        self.policy = policy or RetryPolicy()
        self.labels = labels
        self._rng = random.Random()

    async def _choose(self) -> Endpoint:
        """Weighted choice among endpoints whose breaker lets traffic through, favouring spare capacity."""
        while True:
            ready = [e for e in self.endpoints if e.breaker.available()]
            if ready:
                weights = [e.spec.weight * (1.0 - 0.9 * min(e.load(), 1.0)) for e in ready]
                return self._rng.choices(ready, weights)[0]
            await asyncio.sleep(min(e.breaker.ready_in() for e in self.endpoints) + 0.01)

    async def call(self, request: Request, usage: Usage) -> tuple[Response, Endpoint]:
        """One logical request. Raises ProviderError when its retries are spent, FatalError at once,
        BudgetExhausted when the budget admits no more."""
        failures = limited = 0
        estimate = (estimate_tokens(request.system + request.prompt), request.max_tokens)
        while True:
            endpoint = await self._choose()
            provider = endpoint.provider()  # built (SDK imported) before a start time is taken, not after
            reserved = endpoint.spec.price.usd(*estimate)
            loop = asyncio.get_running_loop()
            try:
                # In this order: a start time is leased only for a request that can go at once, and it is
                # the last wait before the request is sent. The budget's reply (a Ray call, slow on a busy
                # node) comes first: after the start time, it would send requests late and bunched.
                async with endpoint.concurrency:
                    if self.budget is not None:
                        await self.budget.reserve(reserved)
                    if endpoint.pacer is not None:
                        await endpoint.pacer.acquire(estimate)
                    started = loop.time()
                    metrics.in_flight(*self.labels, endpoint, endpoint.concurrency.in_flight)
                    try:
                        response = await provider.complete(request)
                    finally:
                        metrics.in_flight(*self.labels, endpoint, endpoint.concurrency.in_flight - 1)
            except FatalError:
                raise
            except RateLimited as e:
                usage.add(endpoint, None, "rate_limited")
                metrics.attempt(*self.labels, endpoint, "rate_limited")
                self._settle(endpoint, estimate, None, reserved)
                limited += 1
                if limited >= self.policy.rate_limited_attempts:
                    raise
                await self._back_off(endpoint, e, limited)
                continue
            except ProviderError as e:
                usage.add(endpoint, None, "error")
                metrics.attempt(*self.labels, endpoint, "error")
                self._settle(endpoint, estimate, None, reserved)
                if not endpoint.transient(e):  # the same request would be refused again: no retry
                    raise
                endpoint.breaker.failure()
                endpoint.concurrency.failure()
                failures += 1
                if failures >= self.policy.attempts:
                    raise
                await asyncio.sleep(self.policy.delay(failures, self._rng))
                continue
            endpoint.breaker.success()
            endpoint.concurrency.success(loop.time() - started)
            usage.add(endpoint, response, "ok")
            metrics.attempt(*self.labels, endpoint, "ok", response)
            self._settle(endpoint, estimate, response, reserved)
            if response.rate is not None and endpoint.pacer is not None:
                endpoint.pacer.observe(response.rate.limit_requests, response.rate.limit_tokens)
            return response, endpoint

    async def _back_off(self, endpoint: Endpoint, e: RateLimited, limited: int) -> None:
        """After a 429: the limit the answer states is learnt, and the wait it names (or a backoff) pauses
        every worker of the endpoint's limiter, or this one where there is none."""
        wait = e.retry_after if e.retry_after is not None else self.policy.delay(limited, self._rng)
        if endpoint.pacer is None:
            await asyncio.sleep(wait)
            return
        if e.rate is not None:
            endpoint.pacer.observe(e.rate.limit_requests, e.rate.limit_tokens)
        endpoint.pacer.pause(wait)

    def _settle(self, endpoint: Endpoint, estimate, response: Response | None, reserved_usd: float) -> None:
        actual = (response.input_tokens, response.output_tokens) if response else (0, 0)
        if endpoint.pacer is not None:
            endpoint.pacer.settle(estimate, actual)
        if self.budget is not None:
            self.budget.settle(reserved_usd, response.usd(endpoint.spec.price) if response else 0.0)

    async def aclose(self) -> None:
        for e in self.endpoints:
            if e._provider is not None:
                await e._provider.aclose()
