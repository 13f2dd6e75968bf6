"""What a small run costs through Ray Data's actors and from the driver (`--in-driver`): the same job
and `--limit` against the fake server (no latency), the two executors alternating, each run into a
fresh run directory; prints each run's wall time and the ratio of the medians.

    .venv/bin/python benchmarks/executor_overhead.py [--job cb] [--limit 40] [--repeats 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import tempfile
import time
from pathlib import Path

import ray
from harness.process import FakeProcess

from targen_ray.engine import job as job_mod
from targen_ray.engine.runner import run

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--job", default="cb")
    parser.add_argument("--limit", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    os.environ.update(HF_HUB_OFFLINE="1", FAKE_API_KEY="sk-bench-fake-0123456789")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
    with tempfile.TemporaryDirectory() as tmp:
        fake = FakeProcess(Path(tmp))
        try:
            job = job_mod.load(ROOT / "jobs" / f"{args.job}.yaml", fake.endpoints(writer="openai", judge="openai"))
            dedup = job.spec.dedup.model_copy(update={"near": False})  # steps 1-4 and the split only
            job = dataclasses.replace(job, spec=job.spec.model_copy(update={"dedup": dedup}))
            walls: dict[str, list[float]] = {"actors": [], "driver": []}
            for i in range(args.repeats):
                for name in walls:
                    started = time.monotonic()
                    run(job, f"{tmp}/{name}-{i}", limit=args.limit, log_to_driver=False, in_driver=name == "driver")
                    walls[name].append(time.monotonic() - started)
                    print(f"{name} run {i + 1}: {walls[name][-1]:.1f} s", flush=True)
        finally:
            fake.stop()
    actors, driver = (statistics.median(walls[k]) for k in ("actors", "driver"))
    print(f"{args.job} --limit {args.limit}: median {actors:.1f} s through the actors, {driver:.1f} s from the driver")
    print(f"from the driver / through the actors: {driver / actors:.3f}")


if __name__ == "__main__":
    main()
