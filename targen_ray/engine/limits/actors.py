"""The cluster's named actors: a key's limiter (detached, one per provider, base URL, key hash and model,
found by every job that uses them) and a job's budget, and how a job finds its limiters."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections import deque
from dataclasses import dataclass

import ray

from ...config.kinds import KINDS
from .. import metrics
from .limiter import IDLE_S, Budget, Lease, Limiter

NAMESPACE = "targen"


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
