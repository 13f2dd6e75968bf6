"""Kill the driver (SIGKILL in stage 3, SIGTERM in stage 4) or one worker actor in stage 3: the run ends with
the ids of an uninterrupted one, and only what was in flight is sent twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import BOOLQ, ROOT, driver, exact_dedup_only, final_ids
from harness.process import FakeProcess, session_pids

from targen_ray.config import load_job
from targen_ray.engine import job as job_mod
from targen_ray.engine.execute import inputs, online
from targen_ray.engine.ids import stable_id
from targen_ray.engine.runner import run
from targen_ray.engine.store import RunDir
from targen_ray.interface.cli import main

pytestmark = pytest.mark.slow  # driver processes killed mid-run, then full runs to compare with


def request_seed(row_id: str) -> int:
    return int(stable_id(row_id, 0), 16) % 2**31  # what Step.request sends as the first attempt's seed


def quiet_log_length(fake: FakeProcess, quiet_s: float = 2.0) -> int:
    n, since = len(fake.log()), time.monotonic()
    while time.monotonic() - since < quiet_s:
        time.sleep(0.2)
        if (m := len(fake.log())) != n:
            n, since = m, time.monotonic()
    return n


@pytest.fixture(scope="module")
def whole(ray_session, tmp_path_factory):
    """The final ids of the job run once, uninterrupted, which every killed run must end with. Its own
    fake: ids and answers follow from the job and the request alone, not from latency or the executor."""
    tmp = tmp_path_factory.mktemp("whole")
    fake = FakeProcess(tmp)
    try:
        job = job_mod.load(exact_dedup_only(BOOLQ, tmp), fake.endpoints(writer="openai", judge="openai"))
        run(job, str(tmp / "run"), limit=300, in_driver=True)
        return final_ids(tmp / "run")
    finally:
        fake.stop()


def test_sigkill_in_stage_3_then_resume(whole, tmp_path):
    fake = FakeProcess(tmp_path, "--latency-ms", "50", "150")
    try:
        endpoints = fake.endpoints(writer="openai", judge="openai")
        crashed = tmp_path / "crashed"
        cmd, env = driver(endpoints, 300, crashed, job=exact_dedup_only(BOOLQ, tmp_path))
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 240
        while len(list((crashed / RunDir.stage_dir("generate")).glob("r0-part-*.parquet"))) < 3:
            assert proc.poll() is None and time.monotonic() < deadline, "stage 3 never got going"
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and the processes of its local Ray
        proc.wait()
        written = pq.read_table(crashed / RunDir.stage_dir("generate"))["id"].to_pylist()
        sent_before = quiet_log_length(fake)  # requests already on the wire still arrive: wait for them

        job = job_mod.load(exact_dedup_only(BOOLQ, tmp_path), endpoints)
        summary = run(job, str(crashed), limit=300)
        after = [e for e in fake.log()[sent_before:] if e["schema"] == "boolq_generate"]

        assert final_ids(crashed) == whole
        assert summary["complete"] and summary["rows"]["counts_add_up"]
        before = [e for e in fake.log()[:sent_before] if e["schema"] == "boolq_generate"]
        assert 0 < len(written) < len(before)
        # Not one generation written before the kill was asked for again ...
        written_seeds = {request_seed(row_id) for row_id in written}
        assert not written_seeds & {e["seed"] for e in after}
        # ... only those in flight at the kill, and the rows never sent.
        resent = {e["seed"] for e in before} & {e["seed"] for e in after}
        assert len(resent) <= len(before) - len(written)
        assert len(after) == summary["stages"]["generate"]["requests"] - len(written)
    finally:
        fake.stop()


def _command(endpoints, run_dir) -> tuple[list[str], dict]:
    return driver(endpoints, 300, run_dir, exact_dedup_only(BOOLQ, run_dir.parent), "--no-analyze")


def _start(endpoints, run_dir) -> subprocess.Popen:
    cmd, env = _command(endpoints, run_dir)
    return subprocess.Popen(
        cmd, cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )


def _wait_for_parts(proc: subprocess.Popen, run_dir: Path, n: int, step: str = "generate") -> None:
    deadline = time.monotonic() + 240
    while len(list((run_dir / RunDir.stage_dir(step)).glob("r0-part-*.parquet"))) < n:
        assert proc.poll() is None and time.monotonic() < deadline, f"{step} never got going"
        time.sleep(0.1)


def _step_workers(session: int) -> list[int]:
    """Pids of the StepWorker actors of the Ray that the driver in process session `session` started."""
    pids = []
    for pid in session_pids(session):
        try:
            if "MapWorker(MapBatches(StepWorker))" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(
                errors="replace"
            ):
                pids.append(pid)
        except OSError:
            continue
    return pids


def test_a_killed_worker_is_replaced_then_sigterm_stops_cleanly_and_the_same_command_continues(whole, tmp_path):
    """One driver, two faults (one run instead of two, ~65 s saved): a worker actor killed in stage 3 is
    replaced and its rows redone once; SIGTERM in stage 4 stops the driver cleanly, and the same command
    line finishes the run with the ids of an uninterrupted one."""
    fake = FakeProcess(tmp_path, "--latency-ms", "50", "150")
    try:
        endpoints = fake.endpoints(writer="openai", judge="openai")
        run_dir = tmp_path / "run"
        proc = _start(endpoints, run_dir)
        _wait_for_parts(proc, run_dir, 2)
        workers = _step_workers(proc.pid)
        assert workers, "no StepWorker actor found"
        os.kill(workers[0], signal.SIGKILL)

        _wait_for_parts(proc, run_dir, 2, step="correct")  # stage 3 went on without the killed actor
        proc.send_signal(signal.SIGTERM)  # what `ray job stop` and schedulers send: the driver only
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err[-3000:]
        assert [line for line in err.splitlines() if line.startswith("targen:")] == [
            f"targen: interrupted: every finished row is in {run_dir}; the same command continues the run"
        ]
        assert not (run_dir / RunDir.final()).exists() and not list(run_dir.rglob(".*.tmp"))

        # The same command line, in this process (on the session's Ray, which is already up).
        cmd, _ = _command(endpoints, run_dir)
        assert cmd[1:4] == ["-m", "targen_ray", "run"] and main(cmd[3:]) == 0
        summary = json.loads((run_dir / RunDir.summary_file()).read_text())
        assert summary["complete"] and summary["rows"]["counts_add_up"]
        assert final_ids(run_dir) == whole

        generated = pq.read_table(run_dir / RunDir.stage_dir("generate"))["id"].to_pylist()
        assert len(generated) == len(set(generated))
        # Each generation was asked for once, except those of the blocks in flight on the killed actor,
        # which Ray redoes whole: twice at most.
        sent = Counter(e["seed"] for e in fake.log() if e["schema"] == "boolq_generate")
        twice = [seed for seed in map(request_seed, generated) if sent[seed] > 1]
        in_flight = online.TASKS_PER_ACTOR * inputs.BLOCK_BATCHES * load_job(BOOLQ).batch_size
        assert len(twice) <= in_flight and all(sent[seed] == 2 for seed in twice), (len(twice), in_flight)
    finally:
        fake.stop()
