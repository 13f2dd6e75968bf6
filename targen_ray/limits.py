"""Cluster-wide rate limits: one named Ray actor per API key and model paces every job on the cluster.

Per-process limiters multiply with the number of workers; this one holds the whole cluster's RPM and
TPM. It schedules request start times (GCRA: a virtual clock per budget, no bursts, a hair under the
limit), and hands them out in leases of several requests so that it costs one RPC per lease, not per
request. Token reservations are estimates (prompt + max output); workers refund the difference with
their next lease. A 429 pauses the key for every worker of every job; rate-limit headers lower limits
that were configured too high.

The budget belongs to the key, not the run: the actor is named by (provider, base URL, a hash of the
key, model), outlives any job (detached), is found by every job that uses that key and model under any
endpoint name, splits the rate between the jobs that want more than they get by their `priority`,
and exits once no job has leased from it for IDLE_S. A limiter restarted after its process died
cannot know what it granted before, so it grants nothing for the first HORIZON_S (the furthest ahead
it ever grants): no burst on top of the old schedule.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections import deque
from dataclasses import dataclass

import ray

from . import metrics
from .errors import BudgetExhausted
from .providers.kinds import KINDS

MARGIN = 0.98  # pace a hair under the limit: arrival jitter at exactly the limit draws 429s
HORIZON_S = 1.0  # grant no start time further ahead than this, so refunds and pauses take effect soon
LATE_S = 0.1  # a start time missed by more than this (a busy loop, a slow lease reply) is not used
NAMESPACE = "targen"
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


@ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1)
class LimiterActor:
    """`Limiter` as a detached Ray actor: leases keep it alive; IDLE_S without one and it exits. Calls
    are retried across a restart, so a worker waiting on a lease only waits longer."""

    def __init__(self, labels: tuple[str, str, str] = ("", "", ""), rpm=None, tpm=None, itpm=None, otpm=None):
        """`labels`: (provider, model, key hash), for the utilisation metric; the limits are the creating
        job's, which a restart (the same arguments again) keeps until the jobs configure theirs again."""
        restarted = ray.get_runtime_context().was_current_actor_reconstructed
        self.limiter = Limiter(rpm, tpm, itpm, otpm, restarted=restarted)
        self.labels, self.last_lease, self._reaper = labels, time.time(), None
        self._recent: deque[tuple[float, int]] = deque()  # (when, requests granted) over the last 10 s

    async def lease(self, estimates, refund=(0, 0), job: str = "", priority: float = 1.0) -> Lease:
        self.last_lease = now = time.time()
        if self._reaper is None:
            self._reaper = asyncio.create_task(self._reap())
        lease = self.limiter.lease(estimates, refund, job, priority)
        self._recent.append((now, len(lease.starts)))
        while self._recent[0][0] < now - 10:
            self._recent.popleft()
        if self.limiter.limits["requests"]:
            per_minute = sum(n for _, n in self._recent) * 6
            metrics.utilisation(*self.labels, per_minute / self.limiter.limits["requests"])
        return lease

    async def pause(self, seconds: float) -> None:
        self.limiter.pause(seconds)

    async def observe(self, limit_requests, limit_tokens) -> None:
        self.limiter.observe(limit_requests, limit_tokens)

    async def configure(self, job: str, rpm=None, tpm=None, itpm=None, otpm=None) -> None:
        self.limiter.configure(job, rpm, tpm, itpm, otpm)

    async def stats(self) -> dict:
        return {**self.limiter.stats(), "pid": os.getpid(), "idle_s": time.time() - self.last_lease}

    async def _reap(self) -> None:
        while time.time() - self.last_lease < IDLE_S:
            await asyncio.sleep(min(60.0, IDLE_S / 4))
        ray.kill(ray.get_runtime_context().current_actor, no_restart=True)


BudgetActor = ray.remote(num_cpus=0, max_restarts=-1)(Budget)


class Gate:
    """A worker's side of one endpoint's limiter: waits for a start time, leasing them in chunks.

    Refunds and limits seen in headers ride along with the next lease; a 429 pauses the endpoint
    here at once and on the limiter for everyone else.
    """

    CHUNK = 16

    def __init__(self, limiter: Share):
        self._limiter, self._job, self._priority = limiter.actor, limiter.job, limiter.priority
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
            lease = await self._limiter.lease.remote([est for est, _ in batch], refund, self._job, self._priority)
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


@dataclass(frozen=True)
class Share:
    """One job's handle on a key's limiter: the actor, and who is asking with what priority."""

    actor: object
    job: str
    priority: float = 1.0


def limit_key(spec) -> str:
    """What a rate limit belongs to: provider, base URL, the API key's hash (never the key) and model."""
    secret = os.environ.get(spec.api_key_env or "", "")
    url = (spec.base_url or KINDS[spec.provider].default_url or "").rstrip("/")
    key_hash = hashlib.sha256(secret.encode()).hexdigest()
    return hashlib.sha256(f"{spec.provider}|{url}|{key_hash}|{spec.model}".encode()).hexdigest()[:20]


def limiters_for(endpoints: dict, job: str, priority: float = 1.0) -> dict[str, Share]:
    """The limiter of every endpoint that has limits: one detached actor per key and model, shared by
    every job and every endpoint name that uses them (the lower configured limit wins).

    Endpoints with no configured limit get none: they are paced by the adaptive concurrency limit.
    """
    out = {}
    for name, spec in endpoints.items():
        if any((spec.rpm, spec.tpm, spec.itpm, spec.otpm)):
            key = limit_key(spec)
            actor = LimiterActor.options(
                name=f"targen-limit:{key}", namespace=NAMESPACE, get_if_exists=True, lifetime="detached"
            ).remote((spec.provider, spec.model, key), spec.rpm, spec.tpm, spec.itpm, spec.otpm)
            ray.get(actor.configure.remote(job, spec.rpm, spec.tpm, spec.itpm, spec.otpm))
            out[name] = Share(actor, job, priority)
    return out
