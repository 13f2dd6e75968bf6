"""Utilisation of a provider's rate limit, measured side by side in one run.

8 worker actors send >= 5,000 step-2-sized requests to the fake server, which enforces RPM 3,000 and
TPM 450,000 per key over a 10 s sliding window, with 50-300 ms latency. Three ways to pace them:

  cluster         this project's cluster-wide limiter, configured with the right limits
  cluster-2x      the same, configured 2x too high: it must learn the limits from 429s and headers
  per-actor       a private limiter per actor at limit / 8 (Ray Data LLM's per-actor `qps`, set by a
                  user who knows how many actors there will be)
  per-actor-full  the same at the full limit per actor (the actor count is not known in advance, e.g.
                  an autoscaling pool): the limit multiplies with the actors

Reported: achieved RPM / limit over the whole run (first to last request), requests over the limit
(429s the server counted; of them, over the token limit), and requests lost (not served after
retries). Private limiters retry 429s after Retry-After too, but only in their own actor.

`--jobs 1,2,4` measures concurrent jobs on one key instead: each job is 8 worker actors, started
together, `--requests` in all. Side by side: `shared` (one limiter per key and model, shared by every
job: this project) and `per-run` (one limiter per job, each at the key's full limit: what targen-ray
did before the limiter belonged to the key). Reported: combined utilisation, 429s per 1,000
requests, the most requests the server admitted in any 10 s window ÷ the window's limit, the start
times workers found stale and did not send on, and how much longer the slowest job took than the
fastest.

`--starve N` runs N busy loops beside the workers for the whole measurement (both CPUs of this
machine taken from targen: descheduled workers, event loops that run late); the fake runs at raised
priority, as a provider is not on its clients' CPUs. `--job-variants shared` measures only this project.

    .venv/bin/python benchmarks/limits_utilisation.py [--requests 5200]
    .venv/bin/python benchmarks/limits_utilisation.py --jobs 1,2,4 [--requests 4800] [--starve 2] [--rpm 1200]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile

import ray
from harness.load import LoadWorker
from harness.process import FakeProcess, free_port, peak_window
from harness.starve import busy_loops

from targen_ray.config import EndpointSpec
from targen_ray.engine.limits import LimiterActor, Share, limiters_for

RPM, TPM, ACTORS = 3000, 450_000, 8


def strict_provider(rpm: float | None, tpm: float | None) -> tuple[FakeProcess, EndpointSpec]:
    """The fake at RPM/TPM over a 10 s window with 50-300 ms latency, and an endpoint on it configured
    with `rpm` and `tpm` (None: no limit configured)."""
    fake = FakeProcess(
        tempfile.mkdtemp(), "--rpm", str(RPM), "--tpm", str(TPM), "--window-s", "10", "--latency-ms", "50", "300"
    )
    fields = {"provider": "openai", "model": "bench", "base_url": f"{fake.url}/v1", "api_key_env": "FAKE_API_KEY"}
    return fake, EndpointSpec(**fields, rpm=rpm, tpm=tpm, max_concurrency=32)


def measure(name: str, requests: int, rpm: float | None, tpm: float | None, per_actor_rpm=None) -> dict:
    fake, spec = strict_provider(rpm, tpm)
    try:
        endpoints = {"a": spec}
        limiters = {} if per_actor_rpm else limiters_for(endpoints, job=f"{name}-{free_port()}")
        workers = [
            LoadWorker.remote(list(endpoints.items()), limiters, per_actor_rpm=per_actor_rpm) for _ in range(ACTORS)
        ]
        share = requests // ACTORS
        results = ray.get([w.send.remote(i * share, share, 32) for i, w in enumerate(workers)])
        log = [e for e in fake.log() if e["status"] == 200]
        span = max(e["t"] for e in log) - min(e["t"] for e in log)
        served = sum(sum(r["served"].values()) for r in results)
        return {
            "variant": name,
            "requests": share * ACTORS,
            "served": served,
            "lost": share * ACTORS - served,
            "achieved_rpm": round(len(log) / span * 60, 1),
            "utilisation": round(len(log) / span * 60 / RPM, 3),
            "over_limit": fake.stats()["over_limit"],
            "over_limit_tokens": fake.stats()["over_limit_tokens"],
            "seconds": round(span, 1),
        }
    finally:
        fake.stop()


def measure_jobs(variant: str, jobs: int, requests: int) -> dict:
    """`jobs` jobs of ACTORS actors each on one key: one shared limiter, or one per job."""
    fake, spec = strict_provider(RPM, TPM)
    try:
        endpoints, refs, share = {"a": spec}, {}, requests // (jobs * ACTORS)
        for j in range(jobs):
            if variant == "shared":
                limiters = limiters_for(endpoints, job=f"job{j}")
            else:  # a limiter of its own per job (a name no other job shares), each at the full limit
                own = LimiterActor.options(name=f"per-run-{j}-{free_port()}", namespace="targen").remote(
                    ("openai", "bench", "per-run"), RPM, TPM
                )
                limiters = {"a": Share(own, f"job{j}")}
            workers = [
                LoadWorker.remote(list(endpoints.items()), limiters, labels=(f"job{j}", "load")) for _ in range(ACTORS)
            ]
            refs[j] = [w.send.remote((j * ACTORS + i) * share, share, 32) for i, w in enumerate(workers)]
        results = {j: ray.get(r) for j, r in refs.items()}
        stats = fake.stats()
        log = sorted(e["t"] for e in fake.log() if e["status"] == 200)
        span = log[-1] - log[0]
        ends = [max(r["elapsed_s"] for r in rs) for rs in results.values()]
        served = {j: sum(sum(r["served"].values()) for r in rs) for j, rs in results.items()}
        return {
            "variant": variant,
            "jobs": jobs,
            "requests": share * ACTORS * jobs,
            "lost": share * ACTORS * jobs - sum(served.values()),
            "utilisation": round(len(log) / span * 60 / RPM, 3),
            "429_per_1000": round(1000 * stats.get("openai.429", 0) / max(stats.get("openai.requests", 1), 1), 1),
            "peak_window_vs_limit": round(peak_window(log, 10) / (RPM / 6), 3),
            "stale": sum(r["stale"] for rs in results.values() for r in rs),
            "slowest_job_vs_fastest": round(max(ends) / min(ends), 3),
        }
    finally:
        fake.stop()


def main() -> None:
    global RPM  # --rpm: the limit every measurement here is against
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5200)
    parser.add_argument("--variants", default="cluster,cluster-2x,per-actor,per-actor-full")
    parser.add_argument("--jobs", help="comma-separated counts of concurrent jobs on one key, e.g. 1,2,4")
    parser.add_argument("--starve", type=int, default=0, help="busy loops beside the workers (--jobs only)")
    parser.add_argument("--job-variants", default="shared,per-run")
    parser.add_argument("--rpm", type=int, default=RPM, help="the fake's limit (and the endpoints' rpm)")
    args = parser.parse_args()
    RPM = args.rpm
    os.environ.setdefault("FAKE_API_KEY", "sk-bench")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    if args.jobs:
        with busy_loops(args.starve):
            variants = args.job_variants.split(",")
            rows = [measure_jobs(v, int(n), args.requests) for n in args.jobs.split(",") for v in variants]
        print(
            f"{'variant':<9}{'jobs':>5}{'requests':>9}{'lost':>6}{'util':>7}{'429/1000':>10}{'peak/limit':>11}"
            f"{'stale':>7}{'slowest/fastest':>16}"
        )
        for r in rows:
            print(
                f"{r['variant']:<9}{r['jobs']:>5}{r['requests']:>9}{r['lost']:>6}{r['utilisation']:>7}"
                f"{r['429_per_1000']:>10}{r['peak_window_vs_limit']:>11}{r['stale']:>7}{r['slowest_job_vs_fastest']:>16}"
            )
        print(json.dumps(rows))
        return
    variants = {
        "cluster": lambda: measure("cluster", args.requests, RPM, TPM),
        "cluster-2x": lambda: measure("cluster-2x", args.requests, 2 * RPM, 2 * TPM),
        "per-actor": lambda: measure("per-actor", args.requests, None, None, per_actor_rpm=RPM / ACTORS),
        "per-actor-full": lambda: measure("per-actor-full", args.requests, None, None, per_actor_rpm=RPM),
    }
    rows = [variants[v]() for v in args.variants.split(",")]
    print(f"{'variant':<16}{'requests':>9}{'lost':>6}{'RPM':>9}{'util':>7}{'over-limit':>12}{'(tokens)':>9}{'s':>7}")
    for r in rows:
        print(
            f"{r['variant']:<16}{r['requests']:>9}{r['lost']:>6}{r['achieved_rpm']:>9}{r['utilisation']:>7}"
            f"{r['over_limit']:>12}{r['over_limit_tokens']:>9}{r['seconds']:>7}"
        )
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
