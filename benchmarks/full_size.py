"""Full size, proven: ReCoRD and BoolQ at their full default sizes through stages 1-5 and the split.

Each job runs as `targen run` (its own driver and local Ray, as a user runs it) against the fake
server (no latency, no rate limits), at 10% of its size and then at full size, side by side:

  rows per split (exact?), wall time, rows/s per stage (stage inputs / stage wall time), peak memory
  (PSS, so Ray's shared object store is counted once) of the driver and of the driver plus its whole
  local Ray (raylet, GCS, object store, workers), and scaling = time(full) / (10 x time(10%)).

The run is `targen run --no-analyze`, then `targen analyze` of the finished run is measured on its own
(wall time, peak PSS), so the stages' numbers stay comparable across versions. `--analyze RUN_DIR`
measures only that, for a run made before.

    .venv/bin/python benchmarks/full_size.py [--jobs record boolq] [--fractions 0.1 1.0] [--out FILE]
    .venv/bin/python benchmarks/full_size.py --analyze RUN_DIR
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.process import FakeProcess, MemoryPeak

from targen_ray.config import STEPS
from targen_ray.engine import job as job_mod
from targen_ray.engine import plan
from targen_ray.engine.store import RunDir

ROOT = Path(__file__).resolve().parents[1]


def measure(job_name: str, fraction: float, tmp: Path) -> dict:
    job_file = ROOT / "jobs" / f"{job_name}.yaml"
    full = sum(plan.split_sizes(job_mod.load(job_file, check_keys=False).spec).values())
    limit = None if fraction >= 1 else math.ceil(full * fraction)
    fake = FakeProcess(tmp)
    try:
        endpoints = fake.endpoints(writer="openai", judge="openai", workers=2, max_concurrency=32, timeout_s=60)
        run_dir = tmp / f"{job_name}-{fraction}"
        wall, memory, summary = drive(job_file, endpoints, run_dir, limit)
    finally:
        fake.stop()
    return {
        "job": job_name,
        "fraction": fraction,
        "rows": {s: f"{v['rows']}/{v['target']}" for s, v in summary["splits"].items()},
        "exact": summary["complete"],
        "counts_add_up": summary["rows"]["counts_add_up"],
        "requests": summary["requests"],
        "wall_s": round(wall, 1),
        "rows_per_s": {
            step: round(summary["stages"][step]["inputs"] / max(summary["stages"][step]["wall_s"], 1e-9), 1)
            for step in STEPS
        },
        "split_s": summary["split_wall_s"],
        "dedup": summary["dedup"],
        "peak_driver_mib": round(memory.driver_mib),
        "peak_total_mib": round(memory.total_mib),
        "analyze": measure_analysis(run_dir),
    }


def drive(job_file: Path, endpoints: Path, run_dir: Path, limit: int | None) -> tuple[float, MemoryPeak, dict]:
    """`targen run --no-analyze` as its own driver and local Ray: wall time, peak memory, summary.json."""
    cmd = [sys.executable, "-m", "targen_ray", "run", str(job_file), "--endpoints", str(endpoints)]
    cmd += ["--run-dir", str(run_dir), "--no-analyze", *(["--limit", str(limit)] if limit else [])]
    env = {**os.environ, "RAY_ADDRESS": "", "FAKE_API_KEY": "sk-bench"}
    started = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True, stderr=subprocess.PIPE, text=True)
    memory = MemoryPeak(proc.pid)
    _, err = proc.communicate()
    memory.stop()
    if proc.returncode != 0:
        raise SystemExit(f"{job_file.name} into {run_dir}: exit {proc.returncode}\n{err[-3000:]}")
    return time.monotonic() - started, memory, json.loads((run_dir / RunDir.summary_file()).read_text())


def measure_analysis(run_dir: Path) -> dict:
    """`targen analyze RUN_DIR` as its own process: wall time and peak PSS."""
    cmd = [sys.executable, "-m", "targen_ray", "analyze", str(run_dir), "--out", str(run_dir / "report-bench")]
    started = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    memory = MemoryPeak(proc.pid)
    out, err = proc.communicate()
    memory.stop()
    if proc.returncode != 0:
        raise SystemExit(f"analyze {run_dir}: exit {proc.returncode}\n{err.decode()[-3000:]}")
    metrics = json.loads((run_dir / "report-bench" / "metrics.json").read_text())
    return {
        "rows": metrics["datasets"]["synthetic"]["rows"],
        "wall_s": round(time.monotonic() - started, 1),
        "inside_s": metrics["wall_s"],
        "peak_mib": round(memory.driver_mib),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--jobs", nargs="+", default=["record", "boolq"])
    p.add_argument("--fractions", nargs="+", type=float, default=[0.1, 1.0])
    p.add_argument("--out", help="also write the results as JSON here")
    p.add_argument("--analyze", metavar="RUN_DIR", help="only measure `targen analyze` of this finished run")
    args = p.parse_args()
    if args.analyze:
        print(json.dumps(measure_analysis(Path(args.analyze))))
        return
    results = []
    with tempfile.TemporaryDirectory(prefix="targen-full-") as tmp:
        for name in args.jobs:
            by_fraction = {}
            for fraction in args.fractions:
                result = measure(name, fraction, Path(tmp))
                print(json.dumps(result), flush=True)
                by_fraction[fraction] = result
                results.append(result)
            small, large = by_fraction.get(0.1), by_fraction.get(1.0)
            if small and large:
                ratio = large["wall_s"] / (10 * small["wall_s"])
                print(json.dumps({"job": name, "scaling": round(ratio, 3)}), flush=True)
                results.append({"job": name, "scaling": round(ratio, 3)})
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
