"""The run directory is the only state: the same command on the same directory continues the run."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from conftest import BOOLQ, final_ids
from harness.process import FakeProcess

from targen_ray.engine import job as job_mod
from targen_ray.engine.ids import stable_id
from targen_ray.engine.prompts import PromptSet
from targen_ray.engine.runner import retry_rejects, run
from targen_ray.engine.store import RunDir
from targen_ray.errors import RunDirError


@pytest.fixture
def setup(ray_session, tmp_path):
    fake = FakeProcess(tmp_path, "--latency-ms", "0", "20")
    job = job_mod.load(BOOLQ, fake.endpoints(writer="openai", judge="openai"))
    yield fake, dataclasses.replace(job, spec=job.spec.model_copy(update={"batch_size": 4}))
    fake.stop()


def test_resume_sends_only_what_had_not_completed(setup, tmp_path):
    fake, job = setup
    crashed = tmp_path / "crashed"
    run(job, str(crashed), limit=60, in_driver=True)
    whole = final_ids(crashed)  # what the uninterrupted run made
    # The finished stage was compacted to one part per round.
    parts = sorted((crashed / RunDir.stage_dir("correct")).glob("r0-part-*.parquet"))
    assert len(parts) == 1
    # As if the driver died in stage 4: half its rows never written, nothing split, no summary.
    table = pq.read_table(parts[0])
    lost_rows = table.num_rows // 2
    pq.write_table(table.slice(0, table.num_rows - lost_rows), parts[0])
    shutil.rmtree(crashed / RunDir.final())
    (crashed / RunDir.summary_file()).unlink()

    sent_before = len(fake.log())
    summary = run(job, str(crashed), limit=60, in_driver=True)
    resent = fake.log()[sent_before:]
    assert lost_rows > 0
    assert len(resent) == lost_rows and {e["schema"] for e in resent} == {"boolq_correct"}
    assert final_ids(crashed) == whole
    assert summary["complete"] and summary["rows"]["counts_add_up"], (summary["rows"], summary["splits"])


def test_a_changed_spec_is_refused(setup, tmp_path):
    _, job = setup
    run(job, str(tmp_path / "r"), limit=20, in_driver=True)
    changed = dataclasses.replace(job, spec=job.spec.model_copy(update={"overgenerate": 0.3}))
    with pytest.raises(RunDirError, match="holds a run of a different job .spec_hash"):
        run(changed, str(tmp_path / "r"), limit=20, in_driver=True)
    with pytest.raises(RunDirError, match="limit 20 -> 30"):
        run(job, str(tmp_path / "r"), limit=30, in_driver=True)


def _two_servers(tmp_path, judge_args: list[str]) -> tuple[FakeProcess, FakeProcess, Path]:
    """A healthy writer and a judge on a second server with `judge_args`, in one endpoints file."""
    writer, judge = FakeProcess(tmp_path), FakeProcess(tmp_path, *judge_args)
    eps = {}
    for name, server in (("writer", writer), ("judge", judge)):
        spec = yaml.safe_load(server.endpoints(writer="openai").read_text())["endpoints"]["writer"]
        eps[name] = {**spec, "model": f"fake-{name}"}
    path = tmp_path / "endpoints-two.yaml"
    path.write_text(yaml.safe_dump({"endpoints": eps}))
    return writer, judge, path


def test_error_rate_breaker_stops_then_retry_rejects_finishes(ray_session, tmp_path):
    writer, judge, endpoints = _two_servers(tmp_path, ["--prose-model", "fake-judge"])  # a judge answering prose
    healthy = FakeProcess(tmp_path)
    try:
        job = job_mod.load(BOOLQ, endpoints)
        job = dataclasses.replace(job, spec=job.spec.model_copy(update={"batch_size": 2, "stop_window": 10}))
        run_dir = str(tmp_path / "run")
        # Every judged row fails one way: the breaker ends the run in its first round, short, saying why.
        stopped = run(job, run_dir, limit=30, in_driver=True)
        assert stopped["rounds"] == 1 and not stopped["complete"]
        assert stopped["short"]["why"].startswith(
            "step correct: the first 8 rows all failed the same way (invalid JSON"
        )
        rejected = pq.read_table(tmp_path / "run" / RunDir.rejects("correct"))["id"].to_pylist()
        assert len(rejected) >= 8
        assert all(v["rows"] == 0 for v in stopped["splits"].values())

        # The judge is fixed (here: moved to a healthy server); the rejected rows go again.
        fixed = endpoints.read_text().replace(judge.url, healthy.url)
        endpoints.write_text(fixed)
        job = dataclasses.replace(job_mod.load(BOOLQ, endpoints), spec=job.spec)
        generate_sent = len([e for e in writer.log() if e["schema"] == "boolq_generate"])
        summary = retry_rejects(job, run_dir, 30, ["generate", "correct"], in_driver=True)
        assert summary["complete"] and summary["rows"]["counts_add_up"], summary["rows"]
        assert summary["stages"]["correct"]["retried"] == len(rejected)
        corrected = set(pq.read_table(tmp_path / "run" / RunDir.stage_dir("correct"))["id"].to_pylist())
        assert set(rejected) <= corrected
        # Retried rows carry a new sample number, so new request seeds: none of their old ones is sent again.
        old_seeds = {int(stable_id(i, a), 16) % 2**31 for i in rejected for a in range(job.spec.parse_retries + 1)}
        assert old_seeds <= {e["seed"] for e in judge.log()}
        assert not old_seeds & {e["seed"] for e in healthy.log()}
        # Nothing generated before was generated again (new rows only for rounds after the first).
        again = [e for e in writer.log()[:] if e["schema"] == "boolq_generate"]
        assert len({e["seed"] for e in again}) == len(again) >= generate_sent
        # What the failed attempts cost stays in the ledger.
        assert summary["ledger"]["judge"]["requests"] >= 3 * len(rejected) + summary["stages"]["correct"]["inputs"]
    finally:
        for server in (writer, judge, healthy):
            server.stop()


def test_force_redoes_a_changed_stage_and_keeps_the_earlier_ones(setup, tmp_path):
    fake, job = setup
    run_dir = str(tmp_path / "r")
    first = run(job, run_dir, limit=20, in_driver=True)
    sources = {**job.prompts.sources, "correct": job.prompts.sources["correct"] + "\nBe strict."}
    changed = dataclasses.replace(job, prompts=PromptSet(job.prompts.folder, sources))
    with pytest.raises(RunDirError, match="prompts_hash .* -> .*--force STAGES"):
        run(changed, run_dir, limit=20, in_driver=True)

    sent = len(fake.log())
    summary = run(changed, run_dir, limit=20, force=["correct"], in_driver=True)
    resent = fake.log()[sent:]
    assert {e["schema"] for e in resent} == {"boolq_correct"}
    assert len(resent) == first["stages"]["correct"]["inputs"]
    assert summary["complete"] and summary["rows"]["counts_add_up"]
    assert summary["stages"]["correct"]["requests"] == 2 * len(resent)  # the superseded ones stay paid for
    sent = len(fake.log())
    run(changed, run_dir, limit=20, force=["correct"], in_driver=True)  # the same command again redoes nothing
    assert len(fake.log()) == sent
