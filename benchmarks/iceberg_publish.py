"""Publishing a finished run into an Iceberg table vs into a folder: wall time and peak driver memory,
side by side on the same run.

For each job and size, a run is made on the fake server first (`targen run --no-analyze` as its own
driver, stage 5 exact only: the run is the input here, not what is measured; with `--runs DIR` it is
made there and a finished one is used again). Then, alternating, each `--repeat` times:

  cli      `targen publish RUN DEST` as its own process, as a user runs it: the folder publish, then the
           Iceberg one (a SQLite catalog and a local warehouse), which also starts a local Ray; wall time
           and the peak PSS of the driver process (and of the driver plus its local Ray);
  in-Ray   both publishes in one process whose Ray is already up (as on a cluster, or in a script that
           publishes several runs): wall time of each call, and the ratio.

Each Iceberg publish goes to a new table and each folder publish to a new folder (publishing the same
run again would do nothing).

    .venv/bin/python benchmarks/iceberg_publish.py [--jobs boolq record] [--fractions 1.0 0.1] [--repeat 2]
                                                   [--runs DIR] [--out FILE]
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

from harness.process import FakeProcess, MemoryPeak, exact_dedup_only

from targen_ray.engine import job as job_mod
from targen_ray.engine import plan
from targen_ray.engine.store import RunDir

ROOT = Path(__file__).resolve().parents[1]


def make_run(job_name: str, fraction: float, tmp: Path, runs: Path) -> tuple[Path, int]:
    """A finished run of the job at that share of its full size, made on the fake (or found finished in
    `runs`): its folder and rows."""
    shipped = ROOT / "jobs" / f"{job_name}.yaml"
    full = sum(plan.split_sizes(job_mod.load(shipped, check_keys=False).spec).values())
    limit = None if fraction >= 1 else math.ceil(full * fraction)
    run_dir = runs / f"{job_name}-{fraction}"
    if (run_dir / RunDir.summary_file()).exists():
        return run_dir, limit or full
    job_file, fake = exact_dedup_only(shipped, tmp), FakeProcess(tmp)
    try:
        endpoints = fake.endpoints(writer="openai", judge="openai", workers=2, max_concurrency=32, timeout_s=60)
        cmd = [sys.executable, "-m", "targen_ray", "run", str(job_file), "--endpoints", str(endpoints)]
        cmd += ["--run-dir", str(run_dir), "--no-analyze", *(["--limit", str(limit)] if limit else [])]
        done = subprocess.run(cmd, cwd=ROOT, env={**os.environ, "FAKE_API_KEY": "sk-bench"}, capture_output=True)
    finally:
        fake.stop()
    if done.returncode != 0:
        raise SystemExit(f"{job_name} at {fraction}: exit {done.returncode}\n{done.stderr.decode()[-3000:]}")
    return run_dir, limit or full


def publish_cli(run_dir: Path, dest: str) -> dict:
    """`targen publish` as its own process: wall time, peak PSS of the driver and of driver + Ray."""
    cmd = [sys.executable, "-m", "targen_ray", "publish", str(run_dir), dest, "--create-namespace"]
    cmd = cmd if dest.startswith("iceberg://") else cmd[:-1]
    started = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    memory = MemoryPeak(proc.pid)
    _, err = proc.communicate()
    memory.stop()
    if proc.returncode != 0:
        raise SystemExit(f"publish {run_dir} {dest}: exit {proc.returncode}\n{err.decode()[-3000:]}")
    wall = time.monotonic() - started
    return {"wall_s": round(wall, 2), "driver_mib": round(memory.driver_mib), "total_mib": round(memory.total_mib)}


def publish_in_ray(run_dir: Path, lake: Path, repeat: int) -> list[dict]:
    """Both publishes in one process whose Ray is up before the clock starts (the `--inside` mode)."""
    cmd = [sys.executable, __file__, "--inside", str(run_dir), "--lake", str(lake), "--repeat", str(repeat)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, start_new_session=True)
    if done.returncode != 0:
        raise SystemExit(f"in-Ray publishes of {run_dir}: exit {done.returncode}\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def inside(run_dir: Path, lake: Path, repeat: int) -> None:
    import ray

    from targen_ray.interface import api

    ray.init(include_dashboard=False, log_to_driver=False)
    out = []
    for i in range(repeat):
        row = {}
        for kind, dest in (("folder", str(lake / f"in-ray-{run_dir.name}-{i}")), ("iceberg", _table(run_dir, i))):
            started = time.monotonic()
            api.publish(str(run_dir), dest, create_namespace=kind == "iceberg")
            row[f"{kind}_s"] = round(time.monotonic() - started, 2)
        out.append({**row, "ratio": round(row["iceberg_s"] / row["folder_s"], 2)})
    print(json.dumps(out))


def _table(run_dir: Path, i: int, where: str = "in_ray") -> str:
    return f"iceberg://bench/{where}.t_{run_dir.name.replace('.', '_').replace('-', '_')}_{i}"


def measure(job_name: str, fraction: float, tmp: Path, runs: Path, repeat: int) -> dict:
    started = time.monotonic()
    run_dir, rows = make_run(job_name, fraction, tmp, runs)
    made_s = time.monotonic() - started
    cli = []
    for i in range(repeat):
        folder = publish_cli(run_dir, str(tmp / f"cli-{run_dir.name}-{i}"))
        table = publish_cli(run_dir, _table(run_dir, i, "cli"))
        cli.append({"folder": folder, "iceberg": table, "ratio": round(table["wall_s"] / folder["wall_s"], 2)})
    return {
        "job": job_name,
        "rows": rows,
        "run_s": round(made_s, 1),
        "cli": cli,
        "in_ray": publish_in_ray(run_dir, tmp, repeat),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--jobs", nargs="+", default=["boolq", "record"])
    p.add_argument("--fractions", nargs="+", type=float, default=[1.0])
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--out", help="also write the results as JSON here")
    p.add_argument("--runs", help="make the runs here and keep them (a finished one is used again)")
    p.add_argument("--inside", metavar="RUN_DIR", help=argparse.SUPPRESS)
    p.add_argument("--lake", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.inside:
        inside(Path(args.inside), Path(args.lake), args.repeat)
        return
    results = []
    with tempfile.TemporaryDirectory(prefix="targen-iceberg-") as tmp:
        # The catalog, as pyiceberg's users configure one; every process started here inherits it.
        os.environ["PYICEBERG_CATALOG__BENCH__URI"] = f"sqlite:///{tmp}/catalog.db"
        os.environ["PYICEBERG_CATALOG__BENCH__WAREHOUSE"] = f"file://{tmp}/warehouse"
        os.environ["RAY_ADDRESS"] = "local"  # each driver its own local Ray, never a cluster found on the machine
        for name in args.jobs:
            for fraction in args.fractions:
                result = measure(name, fraction, Path(tmp), Path(args.runs or tmp), args.repeat)
                print(json.dumps(result), flush=True)
                results.append(result)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
