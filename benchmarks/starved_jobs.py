"""Real jobs on one key with the CPUs starved: the issue-29 reproduction, measured.

N `targen run` drivers of the BoolQ job (real pipelines: Ray Data's actors, parsing, the budget), all
joined to one Ray instance so they share the key's limiter, behind the fake at `--rpm` over a 10 s
window (the fake at raised priority: a provider is not on its clients' CPUs), while `--starve` busy
loops take the CPUs from the drivers and their workers. Reported per job count: requests the fake
saw, 429s per 1,000, the most requests it admitted in one window ÷ the window's limit, utilisation
(admitted RPM over the first-to-last span ÷ the limit) and the runs' wall time. Steps 1-4 and the split
only (`near: false`): stage 5 sends no request.

    .venv/bin/python benchmarks/starved_jobs.py [--jobs 1,2,4] [--limit 600] [--rpm 1200] [--starve 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import ray
from harness.process import FakeProcess, exact_dedup_only, peak_window
from harness.starve import busy_loops

ROOT = Path(__file__).resolve().parents[1]
WINDOW_S = 10


def measure(jobs: int, limit: int, rpm: int, folder: Path) -> dict:
    fake = FakeProcess(folder, "--rpm", str(rpm), "--window-s", str(WINDOW_S))
    try:
        # Writer and judge as one model on one key: one limiter, as the fake's window is per key.
        endpoints = fake.endpoints(rpm=rpm, writer="openai", judge="openai", model="fake-writer")
        job = exact_dedup_only(ROOT / "jobs" / "boolq.yaml", folder)
        env = {**os.environ, "RAY_ADDRESS": ray.get_runtime_context().gcs_address}
        started = time.monotonic()
        drivers = [
            subprocess.Popen(
                [sys.executable, "-m", "targen_ray", "run", str(job), "--endpoints", str(endpoints)]
                + ["--limit", str(limit), "--run-dir", str(folder / f"run-{jobs}-{j}"), "--no-analyze"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=open(folder / f"run-{jobs}-{j}.log", "w"),  # noqa: SIM115 (the driver's life)
            )
            for j in range(jobs)
        ]
        codes = [d.wait() for d in drivers]
        wall = time.monotonic() - started
        stats = fake.stats()
        admitted = sorted(e["t"] for e in fake.log() if e["status"] == 200)
        sent = stats.get("openai.requests", 0)
        return {
            "jobs": jobs,
            "exit_codes": codes,
            "requests": sent,
            "429_per_1000": round(1000 * stats.get("openai.429", 0) / max(sent, 1), 1),
            "peak_window_vs_limit": round(peak_window(admitted, WINDOW_S) / (rpm * WINDOW_S / 60), 3),
            "utilisation": round(len(admitted) / (admitted[-1] - admitted[0]) * 60 / rpm, 3),
            "wall_s": round(wall, 1),
        }
    finally:
        fake.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", default="1,2,4", help="comma-separated counts of concurrent jobs on one key")
    parser.add_argument("--limit", type=int, default=600, help="rows per job")
    parser.add_argument("--rpm", type=int, default=1200)
    parser.add_argument("--starve", type=int, default=2, help="busy loops for the whole measurement")
    args = parser.parse_args()
    os.environ.update(HF_HUB_OFFLINE="1", FAKE_API_KEY="sk-bench-fake-0", RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
    rows = []
    with tempfile.TemporaryDirectory() as tmp, busy_loops(args.starve):
        for n in args.jobs.split(","):
            rows.append(measure(int(n), args.limit, args.rpm, Path(tmp)))
            print(json.dumps(rows[-1]), flush=True)
    print(f"{'jobs':>5}{'requests':>9}{'429/1000':>10}{'peak/limit':>11}{'util':>7}{'wall s':>8}  exit codes")
    for r in rows:
        print(
            f"{r['jobs']:>5}{r['requests']:>9}{r['429_per_1000']:>10}{r['peak_window_vs_limit']:>11}"
            f"{r['utilisation']:>7}{r['wall_s']:>8}  {r['exit_codes']}"
        )


if __name__ == "__main__":
    main()
