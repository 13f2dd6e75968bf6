"""A recognisable key planted in the environment appears in no file the run writes and in no log."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from conftest import BOOLQ, ROOT, driver, exact_dedup_only

from targen_ray.engine.store import RunDir

PLANTED = "sk-planted-7c1e5d3a9b2f4e6d8c0a"


def files_containing(folder: Path, needle: bytes) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and needle in p.read_bytes()]


@pytest.mark.slow
def test_planted_key_is_written_nowhere(fake, tmp_path):
    run_dir = tmp_path / "run"
    ray_tmp = Path(tempfile.mkdtemp(prefix="tr", dir="/tmp"))  # short: Ray's socket paths have a length limit
    # Every step's workers see the key; stage 5's embedding (no request, no key) is left out for time.
    job = exact_dedup_only(BOOLQ, tmp_path)
    cmd, env = driver(fake.endpoints(), 30, run_dir, job, FAKE_API_KEY=PLANTED, RAY_TMPDIR=str(ray_tmp))
    proc = subprocess.run(
        cmd,
        capture_output=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (run_dir / RunDir.final("train")).exists()
    needle = PLANTED.encode()
    assert needle not in proc.stdout and needle not in proc.stderr
    assert files_containing(run_dir, needle) == []
    ray_logs = list(ray_tmp.rglob("logs"))
    assert ray_logs, "the run's Ray session logs were not where RAY_TMPDIR put them"
    assert [p for logs in ray_logs for p in files_containing(logs, needle)] == []
    shutil.rmtree(ray_tmp, ignore_errors=True)
