"""The logic of a key's limiter and of a job's budget, with no Ray in it (the clock is injected for
tests): GCRA start times shared by priority between jobs, and a spending cap reserved before a request
and settled after. actors.py makes each a Ray actor."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

MARGIN = 0.98  # pace a hair under the limit: arrival jitter at exactly the limit draws 429s
HORIZON_S = 1.0  # grant no start time further ahead than this, so refunds and pauses take effect soon
WANTING_S = 2.0  # a job refused part of a lease (or queued for its slots) this recently shares by priority
LIVE_S = 60.0  # a job that leased this recently has its configured limits count
IDLE_S = 600.0  # a limiter no job has leased from for this long exits


@dataclass(frozen=True)
class Lease:
    starts: list[float]  # wall-clock times (time.time()) at which each granted request may start, in order
    retry_in: float  # when not all were granted: ask again after this many seconds
    paused_for: float  # seconds the endpoint stays paused (0 when it is not)


def _cost(kind: str, est_in: int, est_out: int) -> int:
    return {"requests": 1, "tokens": est_in + est_out, "input_tokens": est_in, "output_tokens": est_out}[kind]


def _job(priority: float) -> dict:
    return {"priority": priority, "ahead": deque(), "wanting": -1e9, "seen": 0.0, "granted": 0}


class Limiter:
    """The scheduling logic; `LimiterActor` is this class as a Ray actor. Clock injected for tests.

    Each limited quantity (requests, tokens, input tokens, output tokens per minute) has a virtual clock:
    the time from which it can afford the next request. A request starts when every clock allows it.
    """

    # Start times are wall-clock, not delays: a reply that spends 50 ms on the wire must not shift its
    # slots into the next worker's. Nodes of a cluster keep their clocks in step (NTP).
    def __init__(
        self, rpm=None, tpm=None, itpm=None, otpm=None, margin: float = MARGIN, clock=time.time, restarted=False
    ):
        self.limits = {"requests": rpm, "tokens": tpm, "input_tokens": itpm, "output_tokens": otpm}
        self._configured = {"": dict(self.limits)}  # job -> the limits it configured ("": the constructor's)
        self._observed: dict[str, float] = {}  # limits the provider's headers reported
        self.margin, self.clock = margin, clock
        # Restarted: the old schedule may have granted up to HORIZON_S ahead; start after it.
        self._next = dict.fromkeys(self.limits, clock() + HORIZON_S if restarted else 0.0)
        self._paused_until = 0.0
        self.granted = self.rate_limited = 0
        self.jobs: dict[str, dict] = {}  # job -> priority, grants not yet started, when it last wanted more

    def _seconds(self, kind: str, amount: float) -> float:
        return amount * 60 / (self.limits[kind] * self.margin)

    def lease(
        self, estimates: list[tuple[int, int]], refund: tuple[int, int] = (0, 0), job: str = "", priority: float = 1.0
    ) -> Lease:
        """Start times for requests with estimated (input, output) tokens; `refund` returns what earlier
        reservations did not use (negative: what they underestimated).

        Jobs share by `priority`, work-conserving: while other jobs want more than they are granted, a
        job holds at most its share of the HORIZON_S of capacity granted ahead; a job that asks for less
        than its share gets all it asks, and the others split the rest. Start times stay one sequence,
        evenly spaced, whoever holds them."""
        now = self.clock()
        mine = self.jobs.setdefault(job, _job(priority))
        mine["priority"], mine["seen"] = priority, now
        self._effective(now)
        active = [k for k, v in self.limits.items() if v]
        for kind in active:  # what earlier reservations did not use goes back on the clock
            if kind != "requests" and (back := _cost(kind, *refund)):
                self._next[kind] = max(now, self._next[kind] - self._seconds(kind, back))  # back < 0: charged
        ahead = mine["ahead"]
        while ahead and ahead[0][0] < now:  # grants already started no longer count against the share
            ahead.popleft()
        wanting = [j for j in self.jobs.values() if now - j["wanting"] < WANTING_S and j is not mine]
        share = mine["priority"] / (mine["priority"] + sum(j["priority"] for j in wanting))
        held = sum(cost for _, cost in ahead)
        starts: list[float] = []
        for est_in, est_out in estimates:
            start = max([now, self._paused_until, *(self._next[k] for k in active)])
            if start - now > HORIZON_S:
                break
            cost = max(self._seconds(k, _cost(k, est_in, est_out)) for k in active) if active else 0.0
            if share < 1 and held and held + cost > share * HORIZON_S:  # the rest of the horizon is others'
                break
            # Requests are spaced from the start just granted, so they never bunch. Token clocks advance
            # from where they stood: when requests bind, refunded tokens stay as headroom instead of
            # being lost (they can run at most HORIZON_S ahead of their own pace).
            for kind in active:
                base = start if kind == "requests" else max(self._next[kind], now)
                self._next[kind] = base + self._seconds(kind, _cost(kind, est_in, est_out))
            ahead.append((start, cost))
            held += cost
            starts.append(start)
        self.granted += len(starts)
        mine["granted"] += len(starts)
        retry_in = 0.0
        if len(starts) < len(estimates) or (starts and starts[-1] - now > HORIZON_S / 4):
            mine["wanting"] = now  # refused, or queued behind others: it would take more if it could
        if len(starts) < len(estimates):
            ready = max([self._paused_until, *(self._next[k] for k in active)])
            retry_in = max(0.01, ready - now - HORIZON_S / 2, (ahead[0][0] - now) if ahead else 0.0)
        for name in [n for n, j in self.jobs.items() if now - j["seen"] > IDLE_S]:  # jobs long gone
            del self.jobs[name]
        return Lease(starts, retry_in, max(0.0, self._paused_until - now))

    def configure(self, job: str, rpm=None, tpm=None, itpm=None, otpm=None) -> None:
        """A job's configured limits for this key and model. While several jobs lease, the lowest each
        configured wins; a job gone for LIVE_S no longer counts (a raised limit takes effect)."""
        self._configured[job] = {"requests": rpm, "tokens": tpm, "input_tokens": itpm, "output_tokens": otpm}
        self.jobs.setdefault(job, _job(1.0))["seen"] = self.clock()
        self._effective(self.clock())

    def _effective(self, now: float) -> None:
        live = [j for j in self._configured if j and now - self.jobs.get(j, {}).get("seen", -1e9) < LIVE_S]
        sources = [self._configured[j] for j in live] or list(self._configured.values())
        for kind in self.limits:
            values = [v for v in (*(c[kind] for c in sources), self._observed.get(kind)) if v]
            self.limits[kind] = float(min(values)) if values else None

    def pause(self, seconds: float) -> None:
        """A 429: nobody sends to this endpoint for `seconds`."""
        self.rate_limited += 1
        self._paused_until = max(self._paused_until, self.clock() + seconds)
        for kind in self._next:  # resume at the paced rate, not with a burst of everything that waited
            self._next[kind] = max(self._next[kind], self._paused_until)

    def observe(self, limit_requests: float | None, limit_tokens: float | None) -> None:
        """Limits a provider reported in its headers win over configured ones that are higher (or absent)."""
        for kind, seen in (("requests", limit_requests), ("tokens", limit_tokens)):
            if seen:  # a higher report never raises a limit
                self._observed[kind] = min(float(seen), self._observed.get(kind, float("inf")))
        self._effective(self.clock())

    def stats(self) -> dict:
        return {
            "granted": self.granted,
            "rate_limited": self.rate_limited,
            "limits": dict(self.limits),
            "jobs": {name: j["granted"] for name, j in self.jobs.items()},
        }


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
