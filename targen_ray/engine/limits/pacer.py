"""A worker's side of the limits: it waits for the limiter's start times, leasing them in chunks, and
reserves each request's cost in the job's budget, settlements riding along with the next call."""

from __future__ import annotations

import asyncio
import time
from collections import deque

from ...errors import BudgetExhausted
from .actors import Share

# A start time missed by more than this is not used: the request is not sent on it. The limiter paces
# at MARGIN (2%) under the limit, which leaves 2% of a window as headroom: 0.2 s in the 10 s windows of
# the strictest providers. A request sent L late can join a window the limiter's schedule kept it out
# of, so L, one request's spacing (0.05 s at 1,200 RPM) and the wire's jitter must fit in that 0.2 s:
# 0.05 s leaves 0.1 s for the wire. A worker whose process was descheduled or whose event loop was busy
# finds its start times stale and leases new ones, so lateness costs utilisation, never a 429.
LATE_S = 0.05


class Pacer:
    """A worker's side of one endpoint's limiter: waits for a start time, leasing them in chunks.

    Refunds and limits seen in headers ride along with the next lease; a 429 pauses the endpoint
    here at once and on the limiter for everyone else.
    """

    CHUNK = 16

    def __init__(self, limiter: Share, clock=time.time):
        self._limiter, self._job, self._priority = limiter.actor, limiter.job, limiter.priority
        self._clock = clock  # wall-clock, as the limiter's start times are
        self.stale = 0  # start times given up because they had passed by more than LATE_S
        self._waiters: deque[tuple[tuple[int, int], asyncio.Future]] = deque()
        self._leasing: asyncio.Task | None = None
        self._refund = [0, 0]
        self._seen: tuple | None = None
        self.paused_until = 0.0

    async def acquire(self, estimate: tuple[int, int]) -> None:
        """Returns at a start time the limiter granted, at most LATE_S after it. The caller sends at once:
        nothing that can wait (a Ray call, the budget) may stand between this and the request."""
        while True:
            future = asyncio.get_running_loop().create_future()
            self._waiters.append((estimate, future))
            if self._leasing is None or self._leasing.done():
                self._leasing = asyncio.create_task(self._lease())
            start = await future
            now = self._clock()
            wait = self.paused_until - now
            if now - start <= LATE_S and wait <= 0:
                return
            # Not sent on this start time: a stale one would bunch with the next ones, one inside a pause
            # would draw a 429. Its tokens go back with the next lease; the request slot cannot (it is
            # in the past: reusing it would put two requests where the schedule has one).
            self._refund[0] += estimate[0]
            self._refund[1] += estimate[1]
            if wait > 0:
                await asyncio.sleep(wait)
            else:
                self.stale += 1

    async def _lease(self) -> None:
        loop = asyncio.get_running_loop()
        while self._waiters:
            batch = [self._waiters.popleft() for _ in range(min(self.CHUNK, len(self._waiters)))]
            refund, self._refund = tuple(self._refund), [0, 0]
            lease = await self._limiter.lease.remote([est for est, _ in batch], refund, self._job, self._priority)
            now = self._clock()
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
        self.paused_until = max(self.paused_until, self._clock() + seconds)
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
