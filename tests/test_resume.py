"""The run directory is the only state: the same command on the same directory continues the run."""

from __future__ import annotations

import dataclasses
import shutil

import pyarrow.parquet as pq
import pytest
from conftest import BOOLQ, final_ids

from targen_ray import job as job_mod
from targen_ray.fake.process import FakeProcess
from targen_ray.runner import run
from targen_ray.store import RunDirError


@pytest.fixture
def setup(ray_session, tmp_path):
    fake = FakeProcess(tmp_path, "--latency-ms", "0", "20")
    job = job_mod.load(BOOLQ, fake.endpoints(writer="openai", judge="openai"))
    yield fake, dataclasses.replace(job, spec=job.spec.model_copy(update={"batch_size": 4}))
    fake.stop()


def test_resume_sends_only_what_had_not_completed(setup, tmp_path):
    fake, job = setup
    run(job, str(tmp_path / "whole"), limit=60)
    crashed = tmp_path / "crashed"
    run(job, str(crashed), limit=60)
    # The finished stage was compacted to one part per round.
    parts = sorted((crashed / "04_corrected").glob("r0-part-*.parquet"))
    assert len(parts) == 1
    # As if the driver died in stage 4: half its rows never written, nothing split, no summary.
    table = pq.read_table(parts[0])
    lost_rows = table.num_rows // 2
    pq.write_table(table.slice(0, table.num_rows - lost_rows), parts[0])
    shutil.rmtree(crashed / "final")
    (crashed / "summary.json").unlink()

    sent_before = len(fake.log())
    summary = run(job, str(crashed), limit=60)
    resent = fake.log()[sent_before:]
    assert lost_rows > 0
    assert len(resent) == lost_rows and {e["schema"] for e in resent} == {"boolq_correct"}
    assert final_ids(crashed) == final_ids(tmp_path / "whole")
    assert summary["complete"] and summary["rows"]["counts_add_up"], (summary["rows"], summary["splits"])


def test_a_changed_spec_is_refused(setup, tmp_path):
    _, job = setup
    run(job, str(tmp_path / "r"), limit=20)
    changed = dataclasses.replace(job, spec=job.spec.model_copy(update={"overgenerate": 0.3}))
    with pytest.raises(RunDirError, match="holds a run of a different job .spec_hash"):
        run(changed, str(tmp_path / "r"), limit=20)
    with pytest.raises(RunDirError, match="limit 20 -> 30"):
        run(job, str(tmp_path / "r"), limit=30)
