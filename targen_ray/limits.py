"""Cluster-wide rate limits: one named Ray actor per (endpoint, model) paces every worker on every node.

Per-process limiters multiply with the number of workers; this one holds the whole cluster's RPM and
TPM. It schedules request start times (GCRA: a virtual clock per budget, no bursts, a hair under the
limit), and hands them out in leases of several requests so that it costs one RPC per lease, not per
request. Token reservations are estimates (prompt + max output); workers refund the difference with
their next lease. A 429 pauses the endpoint for every worker; rate-limit headers lower limits that
were configured too high.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass

import ray

MARGIN = 0.98  # pace a hair under the limit: arrival jitter at exactly the limit draws 429s
HORIZON_S = 1.0  # grant no start time further ahead than this, so refunds and pauses take effect soon
LATE_S = 0.1  # a start time missed by more than this (a busy loop, a slow lease reply) is not used
NAMESPACE = "targen"


@dataclass(frozen=True)
class Lease:
    starts: list[float]  # wall-clock times (time.time()) at which each granted request may start, in order
    retry_in: float  # when not all were granted: ask again after this many seconds
    paused_for: float  # seconds the endpoint stays paused (0 when it is not)


def _cost(kind: str, est_in: int, est_out: int) -> int:
    return {"requests": 1, "tokens": est_in + est_out, "input_tokens": est_in, "output_tokens": est_out}[kind]


class Limiter:
    """The scheduling logic; `LimiterActor` is this class as a Ray actor. Clock injected for tests.

    Each limited quantity (requests, tokens, input tokens, output tokens per minute) has a virtual clock:
    the time from which it can afford the next request. A request starts when every clock allows it.
    """

    # Start times are wall-clock, not delays: a reply that spends 50 ms on the wire must not shift its
    # slots into the next worker's. Nodes of a cluster keep their clocks in step (NTP).
    def __init__(self, rpm=None, tpm=None, itpm=None, otpm=None, margin: float = MARGIN, clock=time.time):
        self.limits = {"requests": rpm, "tokens": tpm, "input_tokens": itpm, "output_tokens": otpm}
        self.margin, self.clock = margin, clock
        self._next = dict.fromkeys(self.limits, 0.0)
        self._paused_until = 0.0
        self.granted = self.rate_limited = 0

    def _seconds(self, kind: str, amount: float) -> float:
        return amount * 60 / (self.limits[kind] * self.margin)

    def lease(self, estimates: list[tuple[int, int]], refund: tuple[int, int] = (0, 0)) -> Lease:
        """Start times for requests with estimated (input, output) tokens; `refund` returns what earlier
        reservations did not use (negative: what they underestimated)."""
        now = self.clock()
        active = [k for k, v in self.limits.items() if v]
        for kind in active:  # what earlier reservations did not use goes back on the clock
            if kind != "requests" and (back := _cost(kind, *refund)):
                self._next[kind] = max(now, self._next[kind] - self._seconds(kind, back))  # back < 0: charged
        starts: list[float] = []
        for est_in, est_out in estimates:
            start = max([now, self._paused_until, *(self._next[k] for k in active)])
            if start - now > HORIZON_S:
                break
            # Requests are spaced from the start just granted, so they never bunch. Token clocks advance
            # from where they stood: when requests bind, refunded tokens stay as headroom instead of
            # being lost (they can run at most HORIZON_S ahead of their own pace).
            for kind in active:
                base = start if kind == "requests" else max(self._next[kind], now)
                self._next[kind] = base + self._seconds(kind, _cost(kind, est_in, est_out))
            starts.append(start)
        self.granted += len(starts)
        retry_in = 0.0
        if len(starts) < len(estimates):
            ready = max([self._paused_until, *(self._next[k] for k in active)])
            retry_in = max(0.01, ready - now - HORIZON_S / 2)
        return Lease(starts, retry_in, max(0.0, self._paused_until - now))

    def pause(self, seconds: float) -> None:
        """A 429: nobody sends to this endpoint for `seconds`."""
        self.rate_limited += 1
        self._paused_until = max(self._paused_until, self.clock() + seconds)
        for kind in self._next:  # resume at the paced rate, not with a burst of everything that waited
            self._next[kind] = max(self._next[kind], self._paused_until)

    def observe(self, limit_requests: float | None, limit_tokens: float | None) -> None:
        """Limits a provider reported in its headers win over configured ones that are higher (or absent)."""
        for kind, seen in (("requests", limit_requests), ("tokens", limit_tokens)):
            if seen and (self.limits[kind] is None or seen < self.limits[kind]):
                self.limits[kind] = float(seen)

    def stats(self) -> dict:
        return {"granted": self.granted, "rate_limited": self.rate_limited, "limits": dict(self.limits)}


class Budget:
    """The job's spending cap, shared by every worker: reserve before a request, settle after."""

    def __init__(self, limit_usd: float):
        self.limit, self.spent, self.reserved = limit_usd, 0.0, 0.0

    def reserve(self, usd: float, settle: tuple[float, float] = (0.0, 0.0)) -> bool:
        """Settle earlier reservations (reserved, actual), then reserve `usd` if it fits under the cap."""
        self.reserved -= settle[0]
        self.spent += settle[1]
        if self.spent + self.reserved + usd > self.limit:
            return False
        self.reserved += usd
        return True

    def sync(self, spent: float, in_flight: float = 0.0) -> None:
        """Between stages: the durable ledger says what was spent; `in_flight` is what requests still out
        (batches an earlier run submitted) may yet cost."""
        self.spent, self.reserved = spent, in_flight


LimiterActor = ray.remote(num_cpus=0, max_restarts=-1)(Limiter)
BudgetActor = ray.remote(num_cpus=0, max_restarts=-1)(Budget)


class BudgetExhausted(Exception):
    """The job's budget cannot take one more request; nothing more is admitted."""


class Gate:
    """A worker's side of one endpoint's limiter: waits for a start time, leasing them in chunks.

    Refunds and limits seen in headers ride along with the next lease; a 429 pauses the endpoint
    here at once and on the limiter for everyone else.
    """

    CHUNK = 16

    def __init__(self, limiter):
        self._limiter = limiter
        self._waiters: deque[tuple[tuple[int, int], asyncio.Future]] = deque()
        self._leasing: asyncio.Task | None = None
        self._refund = [0, 0]
        self._seen: tuple | None = None
        self.paused_until = 0.0

    async def acquire(self, estimate: tuple[int, int]) -> None:
        while True:
            future = asyncio.get_running_loop().create_future()
            self._waiters.append((estimate, future))
            if self._leasing is None or self._leasing.done():
                self._leasing = asyncio.create_task(self._lease())
            start = await future
            now = time.time()
            if now - start > LATE_S:  # a slot used late would bunch with the next ones: let it go
                continue
            wait = self.paused_until - now
            if wait <= 0:
                return
            await asyncio.sleep(wait)  # the slot fell inside a pause: give it up and queue again

    async def _lease(self) -> None:
        loop = asyncio.get_running_loop()
        while self._waiters:
            batch = [self._waiters.popleft() for _ in range(min(self.CHUNK, len(self._waiters)))]
            refund, self._refund = tuple(self._refund), [0, 0]
            lease = await self._limiter.lease.remote([est for est, _ in batch], refund)
            now = time.time()
            self.paused_until = max(self.paused_until, now + lease.paused_for)
            for (_, future), start in zip(batch, lease.starts, strict=False):
                loop.call_later(max(0.0, start - now), _resolve, future, start)
            rest = batch[len(lease.starts) :]
            if rest:
                self._waiters.extendleft(reversed(rest))
                await asyncio.sleep(lease.retry_in)

    def settle(self, estimate: tuple[int, int], actual: tuple[int, int]) -> None:
        """What the reservation did not use goes back; what it underestimated (a longer prompt than
        four characters a token) is charged, so the limiter's clocks follow the provider's count."""
        self._refund[0] += estimate[0] - actual[0]
        self._refund[1] += estimate[1] - actual[1]

    def pause(self, seconds: float) -> None:
        self.paused_until = max(self.paused_until, time.time() + seconds)
        self._limiter.pause.remote(seconds)

    def observe(self, limit_requests: float | None, limit_tokens: float | None) -> None:
        if (limit_requests, limit_tokens) != self._seen:
            self._seen = (limit_requests, limit_tokens)
            self._limiter.observe.remote(limit_requests, limit_tokens)


def _resolve(future: asyncio.Future, start: float) -> None:
    if not future.done():
        future.set_result(start)


class BudgetClient:
    """A worker's side of the budget: one reservation per request, settlements ride along."""

    def __init__(self, budget):
        self._budget = budget
        self._settle = [0.0, 0.0]
        self._refused_at: float | None = None  # once the cap refused this much, it refuses it again

    async def reserve(self, usd: float) -> None:
        if self._refused_at is not None and usd >= self._refused_at:
            raise BudgetExhausted
        settle, self._settle = tuple(self._settle), [0.0, 0.0]
        if not await self._budget.reserve.remote(usd, settle):
            self._refused_at = usd
            raise BudgetExhausted

    def settle(self, reserved: float, actual: float) -> None:
        self._settle[0] += reserved
        self._settle[1] += actual


def limiters_for(endpoints: dict, run_id: str) -> dict:
    """One named limiter actor per (endpoint, model) that has limits, owned by this run's driver.

    Endpoints with no configured limit get none: they are paced by the adaptive concurrency limit.
    """
    out = {}
    for name, spec in endpoints.items():
        if any((spec.rpm, spec.tpm, spec.itpm, spec.otpm)):
            out[name] = LimiterActor.options(
                name=f"targen-limit:{name}:{spec.model}:{run_id}", namespace=NAMESPACE, get_if_exists=True
            ).remote(spec.rpm, spec.tpm, spec.itpm, spec.otpm)
    return out
