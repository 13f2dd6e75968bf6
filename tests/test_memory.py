"""The driver streams: a ReCoRD-shaped job four times as large needs little more driver memory.

Measured, not timed: the peak PSS of the driver process of `targen run` at 1,000 and at 4,000 rows.
On this machine the streaming driver grows by ~24 KiB per extra row (Arrow key columns, the round's
seeds, and allocator high-water marks); the driver before streaming (stage 4 as one block, final/
built whole) grew by ~50 KiB per row here. The bound sits between the two.
"""

from __future__ import annotations

import json
import subprocess

from conftest import ROOT, driver

from targen_ray.fake.process import FakeProcess, MemoryPeak

RECORD = ROOT / "jobs" / "record.yaml"


def _peak_driver_mib(fake: FakeProcess, rows: int, run_dir) -> float:
    endpoints = fake.endpoints(writer="openai", judge="openai", max_concurrency=32)
    cmd, env = driver(endpoints, rows, run_dir, job=RECORD)
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True, stderr=subprocess.PIPE, text=True)
    memory = MemoryPeak(proc.pid, every_s=0.2)
    _, err = proc.communicate(timeout=600)
    memory.stop()
    assert proc.returncode == 0, err[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["complete"] and summary["rows"]["kept"] == rows
    return memory.driver_mib


def test_driver_memory_stays_flat_as_record_grows(ray_session, tmp_path):
    fake = FakeProcess(tmp_path)
    try:
        small = _peak_driver_mib(fake, 1000, tmp_path / "small")
        large = _peak_driver_mib(fake, 4000, tmp_path / "large")
    finally:
        fake.stop()
    print(f"driver peak PSS: {small:.0f} MiB at 1,000 rows, {large:.0f} MiB at 4,000 rows")
    assert (large - small) * 1024 / 3000 < 32, (small, large)  # KiB per extra row
