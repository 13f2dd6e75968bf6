"""Memory stays flat: a ReCoRD-shaped job four times as large needs about as much memory.

Measured, not timed: the peak PSS of the driver of `targen run`, and of the driver with its whole
local Ray, at 1,000 and at 4,000 rows. Stage inputs are read from Parquet by Ray tasks a row group at a
time and re-blocked as they stream, so what grows with the job is the driver's id columns and the
Parquet files, not what is held. Full size (120,730 rows) is measured in benchmarks/full_size.py.
The report (`--no-analyze` here) is written after the stages and counts the final splits' distinct
words and n-grams, so its memory grows with the dataset by design.
"""

from __future__ import annotations

import json
import subprocess

import pytest
from conftest import FAKE_KEY, ROOT, driver, exact_dedup_only
from harness.process import FakeProcess, MemoryPeak

from targen_ray.store import RunDir

pytestmark = pytest.mark.slow  # two ReCoRD runs of 2,000 and 8,000 rows as drivers of their own

RECORD = ROOT / "jobs" / "record.yaml"
SMALL, LARGE = 2000, 8000


def _peaks_mib(fake: FakeProcess, rows: int, run_dir) -> MemoryPeak:
    endpoints = fake.endpoints(writer="openai", judge="openai", max_concurrency=32)
    job = exact_dedup_only(RECORD, run_dir.parent)
    cmd, env = driver(endpoints, rows, run_dir, job, "--no-analyze", FAKE_API_KEY=FAKE_KEY)
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True, stderr=subprocess.PIPE, text=True)
    memory = MemoryPeak(proc.pid, every_s=0.2)
    _, err = proc.communicate(timeout=600)
    memory.stop()
    assert proc.returncode == 0, err[-3000:]
    summary = json.loads((run_dir / RunDir.summary_file()).read_text())
    assert summary["complete"] and summary["rows"]["kept"] == rows
    return memory


def test_memory_stays_flat_as_record_grows(tmp_path):
    fake = FakeProcess(tmp_path)
    try:
        small = _peaks_mib(fake, SMALL, tmp_path / "small")
        large = _peaks_mib(fake, LARGE, tmp_path / "large")
    finally:
        fake.stop()
    print(
        f"peak PSS at {SMALL:,} / {LARGE:,} rows: driver {small.driver_mib:.0f} / {large.driver_mib:.0f} MiB, "
        f"driver and Ray {small.total_mib:.0f} / {large.total_mib:.0f} MiB"
    )
    # Measured here: the driver grows by ~8 KiB per extra row (allocator high-water marks, id columns),
    # the driver and Ray by ~9, with +-50 MiB of noise. Before stage inputs streamed, the driver grew by
    # 24-50 KiB per row and the driver and Ray by 28 (full size: 5.0 GB, now 1.7).
    extra = LARGE - SMALL
    assert (large.driver_mib - small.driver_mib) * 1024 / extra < 16, (small.driver_mib, large.driver_mib)
    assert (large.total_mib - small.total_mib) * 1024 / extra < 24, (small.total_mib, large.total_mib)
