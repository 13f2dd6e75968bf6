"""Memory stays flat: a ReCoRD-shaped job four times as large needs about as much memory.

The peak PSS of the driver of `targen run`, and of the driver with its whole local Ray, at 2,000 and at
8,000 rows (`--no-analyze`: the report counts the final splits' words and n-grams, so its memory grows
with the dataset by design). Stage inputs are read from Parquet by Ray tasks a row group at a time and
re-blocked as they stream, so what grows with the job is the driver's id columns and the Parquet files,
not what is held. Exits 1 when the growth per extra row passes its bound. About 2 minutes here; it
was tests/test_memory.py, moved out of `make test` to keep the suite inside its time (tests/README.md).
Full size (120,730 rows) is measured in full_size.py.

    .venv/bin/python benchmarks/memory_growth.py [--small 2000 --large 8000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml
from harness.process import FakeProcess, MemoryPeak

from targen_ray.engine.store import RunDir

ROOT = Path(__file__).resolve().parents[1]
RECORD = ROOT / "jobs" / "record.yaml"
KEY = "sk-bench-fake-0123456789"
# Measured here: the driver grows by ~8 KiB per extra row (allocator high-water marks, id columns), the
# driver and Ray by ~9, with +-50 MiB of noise. Before stage inputs streamed, the driver grew by 24-50
# KiB per row and the driver and Ray by 28 (full size: 5.0 GB, now 1.7).
BOUND_KIB = {"driver": 16, "driver and Ray": 24}


def peaks(fake: FakeProcess, rows: int, folder: Path) -> MemoryPeak:
    spec = yaml.safe_load(RECORD.read_text())
    spec["prompts"] = str((RECORD.parent / spec["prompts"]).resolve())
    spec["dedup"] = {**spec.get("dedup", {}), "near": False}  # stages 1-4 and the split, as measured before
    job = folder / "record.yaml"
    job.write_text(yaml.safe_dump(spec))
    endpoints = fake.endpoints(writer="openai", judge="openai", max_concurrency=32)
    run_dir = folder / "run"
    cmd = [sys.executable, "-m", "targen_ray", "run", str(job), "--endpoints", str(endpoints)]
    cmd += ["--limit", str(rows), "--run-dir", str(run_dir), "--no-analyze"]
    env = {**os.environ, "RAY_ADDRESS": "", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "FAKE_API_KEY": KEY}
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    memory = MemoryPeak(proc.pid, every_s=0.2)
    _, err = proc.communicate(timeout=900)
    memory.stop()
    if proc.returncode:
        sys.exit(f"targen run at {rows} rows exited {proc.returncode}: {err[-2000:]}")
    summary = json.loads((run_dir / RunDir.summary_file()).read_text())
    if not (summary["complete"] and summary["rows"]["kept"] == rows):
        sys.exit(f"the run at {rows} rows is not complete: {summary['rows']}")
    return memory


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=2000)
    parser.add_argument("--large", type=int, default=8000)
    args = parser.parse_args()
    os.environ["FAKE_API_KEY"] = KEY
    with tempfile.TemporaryDirectory() as tmp:
        fake = FakeProcess(Path(tmp))
        try:
            (Path(tmp) / "small").mkdir()
            (Path(tmp) / "large").mkdir()
            small = peaks(fake, args.small, Path(tmp) / "small")
            large = peaks(fake, args.large, Path(tmp) / "large")
        finally:
            fake.stop()
    extra, failed = args.large - args.small, 0
    for what, a, b in (
        ("driver", small.driver_mib, large.driver_mib),
        ("driver and Ray", small.total_mib, large.total_mib),
    ):
        per_row = (b - a) * 1024 / extra
        ok = per_row < BOUND_KIB[what]
        failed += not ok
        print(
            f"{what}: peak PSS {a:.0f} MiB at {args.small:,} rows, {b:.0f} MiB at {args.large:,}: "
            f"{per_row:.1f} KiB per extra row (bound {BOUND_KIB[what]}) {'ok' if ok else 'FAILS'}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
