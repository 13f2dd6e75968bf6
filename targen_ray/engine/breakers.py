"""Breakers: per endpoint inside one worker (a circuit breaker, an adaptive concurrency limit), and per
stage in the driver (an error-rate breaker that stops a run burning money on failures)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter, deque
from typing import NamedTuple

UNANIMOUS = 8  # a small stage is judged by this many first rows


def judged_after(window: int) -> int:
    """The fewest rows of a stage the error-rate breaker judges it by: its first UNANIMOUS (a window, if
    smaller). Fewer failures than that say nothing yet about the setup, only about those rows."""
    return min(UNANIMOUS, window)


class Breaker:
    """Takes an endpoint out after a streak of failures (5xx, timeouts) and lets one probe back in."""

    def __init__(self, threshold: int = 5, cooldown_s: float = 10.0, clock=time.monotonic):
        self.threshold, self.cooldown_s, self.clock = threshold, cooldown_s, clock
        self.streak, self.open_until, self.probing = 0, 0.0, False
        self.trips = 0

    def available(self) -> bool:
        """Closed, or open long enough that one probe may go (half-open)."""
        if self.streak < self.threshold:
            return True
        if self.probing or self.clock() < self.open_until:
            return False
        self.probing = True
        return True

    def success(self) -> None:
        self.streak, self.probing = 0, False

    def failure(self) -> None:
        self.streak += 1
        self.probing = False
        if self.streak >= self.threshold:
            if self.streak == self.threshold:
                self.trips += 1
            self.open_until = self.clock() + self.cooldown_s

    def ready_in(self) -> float:
        return max(0.0, self.open_until - self.clock())


class AdaptiveLimit:
    """Requests in flight from this worker. Fixed at `ceiling` for endpoints with known rate limits; for
    endpoints that never send 429 (self-hosted vLLM) it is AIMD: +1 per window of fast successes, x0.7
    on a 5xx/timeout or when latency doubles over the best seen."""

    def __init__(self, ceiling: int, adaptive: bool):
        self.ceiling, self.adaptive = ceiling, adaptive
        self.limit = float(min(ceiling, 4) if adaptive else ceiling)
        self.in_flight = 0
        self._best_latency: float | None = None
        self._changed = asyncio.Condition()

    async def __aenter__(self) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self.in_flight < int(self.limit))
            self.in_flight += 1

    async def __aexit__(self, *exc) -> None:
        async with self._changed:
            self.in_flight -= 1
            self._changed.notify_all()

    def success(self, latency_s: float) -> None:
        if not self.adaptive:
            return
        best = self._best_latency = min(self._best_latency or latency_s, latency_s)
        if latency_s > 2 * best + 0.05:
            self._decrease()
        else:
            self.limit = min(self.ceiling, self.limit + 1 / self.limit)

    def failure(self) -> None:
        if self.adaptive:
            self._decrease()

    def _decrease(self) -> None:
        self.limit = max(1.0, self.limit * 0.7)


class ErrorRate:
    """The share of a stage's last `window` rows that failed, after all their retries. Past `limit`, the
    stage stops: every row failing means a bad key, a dead endpoint or a broken prompt, and each
    further row costs money. A stage too small to fill the window stops too once its first
    `unanimous` rows all failed for one reason (a judge that answers prose, a server refusing the
    schema): waiting for 100 rows would let a small job burn every round on the same failure."""

    def __init__(self, limit: float, window: int):
        self.limit, self.recent, self.unanimous = limit, deque(maxlen=window), judged_after(window)
        self.seen = 0  # rows so far, beyond the window too
        self.first: Counter = Counter()  # reason -> count among the stage's first `unanimous` rows

    def add(self, errors: list[str | None]) -> Trip | None:
        """Record rows' errors (None for success); why to stop, if the breaker trips."""
        self.recent.extend(errors)
        for e in errors[: max(0, self.unanimous - self.seen)]:
            self.first[None if e is None else reason_of(e)] += 1
        self.seen += len(errors)
        if self.seen >= self.unanimous and len(self.first) == 1 and None not in self.first:
            reason, n = next(iter(self.first.items()))
            example = next(e for e in reversed(self.recent) if e is not None)
            return Trip(f"the first {n} rows all failed the same way ({reason}; last: {example[:160]})", True)
        if len(self.recent) < self.recent.maxlen:
            return None
        failed = [e for e in self.recent if e is not None]
        if len(failed) <= self.limit * len(self.recent):
            return None
        common = Counter(e.split(" (after")[0] for e in failed).most_common(1)[0][0]
        return Trip(f"{len(failed)} of the last {len(self.recent)} rows failed (most often: {common})", False)


class Trip(NamedTuple):
    reason: str
    unanimous: bool  # a small stage whose every row failed one way, rather than a failure rate


def reason_of(error: str) -> str:
    """What a reject's reason says before its details: "invalid JSON: Expecting value", "boolq check:
    question.min_words", "provider error: ..." (its first two parts)."""
    return ":".join(error.split(" (after")[0].split(":")[:2]).strip()
