"""Load from several Ray actors through the real Pool, for limit tests and benchmarks.

Each `LoadWorker` is what a stage's worker is, minus the pipeline: endpoints, gates to the cluster-wide
limiters, breakers, budget. `per_actor_rpm` swaps the cluster-wide limiter for one private to the actor
(what per-process limiters do), as the baseline the benchmark compares against.
"""

from __future__ import annotations

import asyncio
import sys
import time

import ray

from targen_ray.config import EndpointSpec
from targen_ray.engine.limits import Limiter, Share
from targen_ray.engine.pool import Endpoint, Pool, Usage
from targen_ray.engine.providers import Request
from targen_ray.errors import ProviderError

# Ray workers cannot import this folder (it is not installed): the actor class travels by value.
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])

SEEDS_SCHEMA = {
    "type": "object",
    "properties": {"seeds": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 1}},
    "required": ["seeds"],
    "additionalProperties": False,
}


def seed_request(i: int, max_tokens: int = 200) -> Request:
    """A realistic step-2 request: one passage of ~100 words back."""
    return Request(
        system="Reply with JSON only.",
        prompt=f"Task: BoolQ.\n\nSetting: load test {i}\n\nWrite 1 different passages about this setting.",
        schema_name="boolq_seeds",
        schema=SEEDS_SCHEMA,
        max_tokens=max_tokens,
        temperature=0.7,
        top_p=1.0,
        seed=i,
    )


class _Remote:
    """Makes a local method look like an actor method (`.remote(...)` returning an awaitable)."""

    def __init__(self, fn):
        self._fn = fn

    def remote(self, *args):
        future = asyncio.get_running_loop().create_future()
        future.set_result(self._fn(*args))
        return future


class PrivateLimiter:
    def __init__(self, limiter: Limiter):
        self.lease, self.pause, self.observe = _Remote(limiter.lease), _Remote(limiter.pause), _Remote(lambda *a: None)


@ray.remote(num_cpus=0)
class LoadWorker:
    def __init__(
        self,
        endpoints: list[tuple[str, EndpointSpec]],
        limiters: dict,
        budget=None,
        per_actor_rpm=None,
        labels=("load", "load"),
    ):
        if per_actor_rpm:  # qps per actor: no coordination, no learning, evenly spaced
            limiters = {
                name: Share(PrivateLimiter(Limiter(rpm=per_actor_rpm, margin=1.0)), "") for name, _ in endpoints
            }
        self.pool = Pool([Endpoint(name, spec, limiters.get(name)) for name, spec in endpoints], budget, labels=labels)

    async def send(self, first: int, n: int, concurrency: int) -> dict:
        usage, failed = Usage(), []
        slots = asyncio.Semaphore(concurrency)
        served: dict[str, int] = {}

        async def one(i: int) -> None:
            async with slots:
                try:
                    _, endpoint = await self.pool.call(seed_request(i), usage)
                    served[endpoint.name] = served.get(endpoint.name, 0) + 1
                except ProviderError as e:
                    failed.append(str(e))

        started, cpu = time.monotonic(), time.process_time()
        await asyncio.gather(*(one(first + i) for i in range(n)))
        return {
            "served": served,
            "failed": failed,
            "ledger": usage.by_endpoint,
            "stale": sum(e.pacer.stale for e in self.pool.endpoints if e.pacer is not None),
            "elapsed_s": time.monotonic() - started,
            "cpu_s": time.process_time() - cpu,
        }
