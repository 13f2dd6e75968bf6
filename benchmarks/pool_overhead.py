"""What the pool costs: this project's request path against a bare AsyncOpenAI loop, side by side.

The fake server answers at once with no limits. The same N step-2-sized requests go
  bare     from a plain `openai.AsyncOpenAI` loop in this process, `concurrency` in flight;
  pool     through one Ray worker actor running this project's Pool (routing, breaker, retry policy,
           ledger, and the cluster-wide limiter actor leasing start times; limits set far above reach),
           the same `concurrency` in flight.
Reported: requests/s of each and pool / bare, and the client's CPU per request (the fake server,
one process, can be the ceiling for both; CPU per request shows the client's own cost regardless).

    .venv/bin/python benchmarks/pool_overhead.py [--requests 20000] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time

import openai
import ray
from harness.load import LoadWorker, seed_request
from harness.process import FakeProcess, free_port

from targen_ray.config import EndpointSpec
from targen_ray.engine.limits import limiters_for


async def bare(url: str, n: int, concurrency: int) -> tuple[float, float]:
    client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="sk-bench", max_retries=0)
    slots = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        r = seed_request(i)
        async with slots:
            await client.chat.completions.create(
                model="bench",
                messages=[{"role": "system", "content": r.system}, {"role": "user", "content": r.prompt}],
                max_tokens=r.max_tokens,
                temperature=r.temperature,
                seed=r.seed,
                response_format={
                    "type": "json_schema",
                    "json_schema": {"name": r.schema_name, "schema": r.schema, "strict": True},
                },
            )

    started, cpu = time.monotonic(), time.process_time()
    await asyncio.gather(*(one(i) for i in range(n)))
    elapsed, cpu = time.monotonic() - started, time.process_time() - cpu
    await client.close()
    return n / elapsed, cpu * 1000 / n


def pool(url: str, n: int, concurrency: int) -> tuple[float, float]:
    spec = EndpointSpec(
        provider="openai",
        model="bench",
        base_url=f"{url}/v1",
        api_key_env="FAKE_API_KEY",
        rpm=10_000_000,
        tpm=10_000_000_000,
        max_concurrency=concurrency,
    )
    endpoints = {"a": spec}
    worker = LoadWorker.remote(list(endpoints.items()), limiters_for(endpoints, job=str(free_port())))
    ray.get(worker.send.remote(0, 50, concurrency))  # warm up: client built, connections open
    started = time.monotonic()
    result = ray.get(worker.send.remote(0, n, concurrency))
    elapsed = time.monotonic() - started
    assert sum(result["served"].values()) == n, result["failed"][:3]
    return n / elapsed, result["cpu_s"] * 1000 / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    os.environ.setdefault("FAKE_API_KEY", "sk-bench")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    fake = FakeProcess(tempfile.mkdtemp())
    try:
        asyncio.run(bare(fake.url, 50, args.concurrency))  # warm up
        bare_rps, bare_cpu = asyncio.run(bare(fake.url, args.requests, args.concurrency))
        pool_rps, pool_cpu = pool(fake.url, args.requests, args.concurrency)
    finally:
        fake.stop()
    row = {
        "requests": args.requests,
        "concurrency": args.concurrency,
        "bare_rps": round(bare_rps, 1),
        "pool_rps": round(pool_rps, 1),
        "ratio": round(pool_rps / bare_rps, 3),
        "bare_cpu_ms_per_request": round(bare_cpu, 3),
        "pool_cpu_ms_per_request": round(pool_cpu, 3),
    }
    print(
        f"bare AsyncOpenAI {row['bare_rps']} req/s ({row['bare_cpu_ms_per_request']} ms CPU/request), "
        f"pool {row['pool_rps']} req/s ({row['pool_cpu_ms_per_request']} ms CPU/request), pool / bare = {row['ratio']}"
    )
    print(json.dumps(row))


if __name__ == "__main__":
    main()
