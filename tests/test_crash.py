"""Kill the driver, and with it its local Ray, in the middle of stage 3; the same command finishes
the run with the ids of an uninterrupted one, re-sending only what was in flight."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pyarrow.parquet as pq
from conftest import BOOLQ, ROOT, driver, final_ids

from targen_ray import job as job_mod
from targen_ray.fake.process import FakeProcess
from targen_ray.runner import run
from targen_ray.steps import stable_id


def request_seed(row_id: str) -> int:
    return int(stable_id(row_id, 0), 16) % 2**31  # what Step.request sends as the first attempt's seed


def quiet_log_length(fake: FakeProcess, quiet_s: float = 2.0) -> int:
    n, since = len(fake.log()), time.monotonic()
    while time.monotonic() - since < quiet_s:
        time.sleep(0.2)
        if (m := len(fake.log())) != n:
            n, since = m, time.monotonic()
    return n


def test_sigkill_in_stage_3_then_resume(ray_session, tmp_path):
    fake = FakeProcess(tmp_path, "--latency-ms", "100", "300")
    try:
        endpoints = fake.endpoints(writer="openai", judge="openai")
        crashed = tmp_path / "crashed"
        cmd, env = driver(endpoints, 300, crashed)
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 240
        while len(list((crashed / "03_generated").glob("r0-part-*.parquet"))) < 3:
            assert proc.poll() is None and time.monotonic() < deadline, "stage 3 never got going"
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and the processes of its local Ray
        proc.wait()
        written = pq.read_table(crashed / "03_generated")["id"].to_pylist()
        sent_before = quiet_log_length(fake)  # requests already on the wire still arrive: wait for them

        job = job_mod.load(BOOLQ, endpoints)
        summary = run(job, str(crashed), limit=300)
        after = [e for e in fake.log()[sent_before:] if e["schema"] == "boolq_generate"]
        run(job, str(tmp_path / "whole"), limit=300)

        assert final_ids(crashed) == final_ids(tmp_path / "whole")
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
