"""Batch endpoints: stage 3 on OpenAI's Batch API, stage 4 on Anthropic's Message Batches, against the fake
server's batch APIs (with processing delay, errored and expired lines)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from conftest import BOOLQ, ROOT, driver, exact_dedup_only
from harness.process import FAKE_PRICES, FakeProcess

from targen_ray.config import STEPS
from targen_ray.engine import job as job_mod
from targen_ray.engine.execute import Stage, cancel_superseded, refuse_batches_in_flight
from targen_ray.engine.execute.batch import Batch
from targen_ray.engine.providers.batch import AnthropicBatch, OpenAIBatch, joined
from targen_ray.engine.runner import run
from targen_ray.engine.steps import STEP_CLASSES
from targen_ray.engine.store import RunDir
from targen_ray.errors import RunError, SpecError
from targen_ray.interface.cli import main

WRITER_PRICE, JUDGE_PRICE = FAKE_PRICES["writer"], FAKE_PRICES["judge"]
POLL = {"poll_s": 0.3, "poll_max_s": 1}
SAMPLE_ROW = {"id": "row0", "sample": 0, "context": "tides", "seed": "The tide rose twice a day.", "target_label": 1}


def batch_job(folder: Path) -> Path:
    path = exact_dedup_only(BOOLQ, folder)
    spec = yaml.safe_load(path.read_text())
    spec["steps"]["generate"]["endpoint"] = "writer_batch"
    spec["steps"]["correct"]["endpoint"] = "judge_batch"
    path.write_text(yaml.safe_dump(spec))
    return path


def panel_job(folder: Path, correct: dict) -> Path:
    """A BoolQ job file (stage 5 exact only) whose step 4 is `correct`: a panel, or one judge."""
    path = exact_dedup_only(BOOLQ, folder)
    spec = yaml.safe_load(path.read_text())
    spec["steps"]["correct"] = {**correct, "max_tokens": 200}
    path.write_text(yaml.safe_dump(spec))
    return path


def records(run_dir: Path) -> list[dict]:
    paths = [p for step in STEPS for p in (run_dir / RunDir.batch_records(step)).rglob("*.json")]
    return [json.loads(p.read_text()) for p in sorted(paths)]


def line_failures(stats: dict, api: str) -> int:
    return stats.get(f"{api}.batch_errored", 0) + stats.get(f"{api}.batch_expired", 0)


def usd(price: dict, entry: dict, share: float = 1.0) -> float:
    return share * (entry["input_tokens"] * price["input"] + entry["output_tokens"] * price["output"]) / 1e6


@pytest.mark.slow
def test_batches_in_flight_survive_a_killed_driver_and_are_created_once(ray_session, tmp_path):
    fake = FakeProcess(
        tmp_path, "--batch-delay-s", "1", "--batch-error-rate", "0.1", "--batch-expire-rate", "0.1", "--fault-seed", "3"
    )
    try:
        # Step 3's rows go in batches of at most 25, so the kill finds one in flight and rows in none yet.
        writer = POLL | {"retry": "batch", "attempts": 3, "max_requests": 25}
        eps = fake.batch_endpoints(writer, POLL | {"retry": "online"})
        job_path, run_dir = batch_job(tmp_path), tmp_path / "run"
        cmd, env = driver(eps, 60, run_dir, job_path, "--in-driver")  # steps 1 and 2 online, from the driver
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        # The record is written before the create and gets the batch id once the create returns; killing
        # in between is a lost create (its own test below), so the kill waits for the id.
        first = run_dir / RunDir.batch_records("generate", "r0") / "00000.json"
        deadline = time.monotonic() + 240
        while not (first.exists() and json.loads(first.read_text())["batch_id"]):
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read().decode()[-3000:]
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and its local Ray, while the batch is processed
        proc.wait()
        in_flight = json.loads(first.read_text())
        assert not in_flight["collected"]

        summary = run(job_mod.load(job_path, eps), str(run_dir), limit=60, in_driver=True)
        stats, log = fake.stats(), fake.log()

        assert summary["complete"] and summary["rows"]["counts_add_up"]
        # Every batch was created once: the log holds exactly the batches the run directory records, the one
        # in flight at the kill among them, and no request was in two batches.
        made = [e for e in log if e["api"].endswith(".batch")]
        recorded = records(run_dir)
        assert sorted(e["batch"] for e in made) == sorted(r["batch_id"] for r in recorded)
        assert in_flight["batch_id"] in {r["batch_id"] for r in recorded if r["collected"]}
        lines = [(e["schema"], cid) for e in made for cid in e["custom_ids"]]  # a row keeps its id in steps 3 and 4
        assert len(lines) == len(set(lines))
        assert {e["api"] for e in made} == {"openai.batch", "anthropic.batch"}

        stages = summary["stages"]
        # Step 3 (retry: batch): each failed line was sent again in a later batch, under its next sample.
        assert line_failures(stats, "openai") > 0
        resent = [cid for e in made if e["api"] == "openai.batch" for cid in e["custom_ids"] if not cid.endswith("-0")]
        spent = sum(n for r, n in summary["rejects_by_reason"].items() if r.startswith("generate: batch line"))
        assert stages["generate"]["retried"] == len(resent) == line_failures(stats, "openai") - spent
        # Step 4 (retry: online): each failed line was asked again online, once.
        online = [e for e in log if e["api"] == "anthropic" and e["schema"] == "boolq_correct"]
        assert stages["correct"]["retried"] == line_failures(stats, "anthropic") == len(online) > 0

        # The ledger: each batch line once, at half the price; the online retries at the full price.
        ledger = summary["ledger"]
        writer, judge, judge_online = ledger["writer_batch/batch"], ledger["judge_batch/batch"], ledger["judge_batch"]
        assert writer["requests"] == stats["openai.batch_lines"] and judge["requests"] == stats["anthropic.batch_lines"]
        assert writer["errors"] == line_failures(stats, "openai")
        assert writer["usd"] == pytest.approx(usd(WRITER_PRICE, writer, 0.5), abs=1e-6)  # the ledger rounds to 1e-6 USD
        assert judge["usd"] == pytest.approx(usd(JUDGE_PRICE, judge, 0.5), abs=1e-6)  # the ledger rounds to 1e-6 USD
        assert judge_online["usd"] == pytest.approx(
            usd(JUDGE_PRICE, judge_online), abs=1e-6
        )  # the ledger rounds to 1e-6 USD
        assert judge_online["requests"] == len(online)
    finally:
        fake.stop()


def test_failed_lines_are_rejected_with_their_reason_when_configured(ray_session, tmp_path):
    fake = FakeProcess(tmp_path, "--batch-delay-s", "0.5", "--batch-error-rate", "0.15", "--batch-expire-rate", "0.15")
    try:
        eps = fake.batch_endpoints(POLL | {"retry": "reject"}, POLL | {"retry": "reject"})
        job_path = batch_job(tmp_path)
        summary = run(job_mod.load(job_path, eps), str(tmp_path / "run"), limit=30, in_driver=True)
        stats = fake.stats()
        rejected = {s: summary["stages"][s]["rejected"] for s in ("generate", "correct")}
        assert rejected["generate"] == line_failures(stats, "openai") > 0
        assert rejected["correct"] == line_failures(stats, "anthropic") > 0
        assert summary["stages"]["generate"]["retried"] == summary["stages"]["correct"]["retried"] == 0
        messages = pq.read_table(tmp_path / "run" / RunDir.rejects("generate"), columns=["error"])["error"].to_pylist()
        assert {m.split(":")[0] for m in messages} <= {"batch line expired", "batch line errored"}
        assert summary["rows"]["counts_add_up"]
    finally:
        fake.stop()


def test_the_budget_refuses_a_batch_that_would_pass_it(ray_session, tmp_path):
    fake = FakeProcess(tmp_path, "--batch-delay-s", "0.3")
    try:
        job_path = batch_job(tmp_path)
        spec = yaml.safe_load(job_path.read_text())
        job_path.write_text(yaml.safe_dump({**spec, "budget_usd": 0.05}))  # step 3's batches fit, step 4's not
        eps = fake.batch_endpoints(POLL, POLL)
        summary = run(job_mod.load(job_path, eps), str(tmp_path / "run"), limit=200, in_driver=True)
        assert summary["stopped"].endswith("batches of step correct not submitted")
        assert summary["stages"]["generate"]["kept"] > 0 and summary["usd"] <= 0.05
        assert {e["api"] for e in fake.log() if e["api"].endswith(".batch")} == {"openai.batch"}
    finally:
        fake.stop()


def test_estimate_shows_online_and_batch_cost(fake, tmp_path, capsys):
    eps = fake.batch_endpoints(POLL, POLL)
    assert main(["estimate", str(batch_job(tmp_path)), "--endpoints", str(eps), "--json", "--limit", "100"]) == 0
    est = json.loads(capsys.readouterr().out)
    for step in ("generate", "correct"):
        assert est[step]["batch"] and est[step]["minutes"] is None
        assert est[step]["usd"] == est[step]["usd_batch"] == pytest.approx(est[step]["usd_online"] / 2, abs=1e-4)
    assert est["seeds"]["usd"] == est["seeds"]["usd_online"] > est["seeds"]["usd_batch"]
    assert main(["estimate", str(batch_job(tmp_path)), "--endpoints", str(eps), "--limit", "100"]) == 0
    out = capsys.readouterr().out
    assert "<= 24 h (batch)" in out and "Every step on its Batch API" in out


def test_batch_endpoints_are_checked(fake, tmp_path):
    eps = tmp_path / "endpoints.yaml"
    eps.write_text(yaml.safe_dump({"endpoints": {"w": {"provider": "local", "model": "m", "mode": "batch"}}}))
    with pytest.raises(SpecError, match=r"endpoints.w: mode batch needs a provider with a Batch API"):
        job_mod.load(BOOLQ, eps)
    spec = yaml.safe_load(batch_job(tmp_path).read_text())
    spec["steps"]["generate"]["endpoint"] = ["writer_batch", "writer"]
    (tmp_path / "pool.yaml").write_text(yaml.safe_dump(spec))
    eps = fake.batch_endpoints(POLL, POLL)
    with pytest.raises(SpecError, match=r"steps.generate.endpoint: a step on a batch endpoint uses that endpoint"):
        job_mod.load(tmp_path / "pool.yaml", eps, check_keys=False)


def test_a_step_switched_to_online_refuses_to_send_rows_batches_still_carry(tmp_path):
    run_dir = RunDir(tmp_path / "run")
    record = {"batch_id": "batch_1", "endpoint": "writer_batch", "collected": True}
    run_dir.write_json(RunDir.batch_records("generate", "r0") + "/00000.json", record)
    refuse_batches_in_flight(run_dir, "generate", "r0")  # every batch collected: nothing to refuse
    run_dir.write_json(RunDir.batch_records("generate", "r0") + "/00001.json", {**record, "collected": False})
    with pytest.raises(RunError, match=r"step generate: 1 batch\(es\) .* 'writer_batch' are in flight"):
        refuse_batches_in_flight(run_dir, "generate", "r0")
    refuse_batches_in_flight(run_dir, "generate", "r1")  # another round's batches are its own


def test_force_cancels_the_batches_the_old_job_left_in_flight(ray_session, tmp_path, monkeypatch):
    """An old job left a batch in flight on each Batch API (and a record for an endpoint since removed); the
    changed job, run with --force, moves them aside and cancels each once, then runs its steps online."""
    monkeypatch.setenv("FAKE_API_KEY", "sk-test")
    fake = FakeProcess(tmp_path, "--batch-delay-s", "600")
    try:
        eps = fake.batch_endpoints(POLL, POLL)
        old = job_mod.load(batch_job(tmp_path), eps)
        run_dir = RunDir(tmp_path / "run")
        run_dir.claim(old.identity(12))
        in_flight = {}
        for step, name, client in [
            ("generate", "writer_batch", OpenAIBatch),
            ("correct", "judge_batch", AnthropicBatch),
        ]:
            spec = old.endpoints[name]
            line = client.line(spec.model, "row0-0", STEP_CLASSES["generate"](old).request(SAMPLE_ROW, 0))
            in_flight[step] = client(name, spec).submit(pa.chunked_array([[line]]), f"targen-old-{step}")
            record = {"batch_id": in_flight[step], "endpoint": name, "collected": False}
            run_dir.write_json(RunDir.batch_records(step, "r0") + "/00000.json", record)
        run_dir.write_json(
            RunDir.batch_records("correct", "r0") + "/00001.json",
            {"batch_id": "msgbatch_x", "endpoint": "gone", "collected": False},
        )

        spec = yaml.safe_load(batch_job(tmp_path).read_text())
        spec["steps"]["generate"]["endpoint"] = spec["steps"]["correct"]["endpoint"] = "writer"
        (tmp_path / "online.yaml").write_text(yaml.safe_dump(spec))
        new = job_mod.load(tmp_path / "online.yaml", eps)
        summary = run(new, str(run_dir), limit=12, force=["generate"], in_driver=True)

        assert summary["complete"] and summary["rows"]["counts_add_up"]
        stats = fake.stats()
        assert stats["openai.batches_cancelled"] == stats["anthropic.batches_cancelled"] == 1
        assert (
            OpenAIBatch("writer_batch", old.endpoints["writer_batch"]).status(in_flight["generate"]).state
            == "cancelled"
        )
        redone = RunDir(tmp_path / "run")
        moved = [r for step in ("generate", "correct") for r in redone.superseded_batch_records(step).values()]
        outcomes = {r["batch_id"]: r["cancel"] for r in moved}
        assert outcomes[in_flight["generate"]] == outcomes[in_flight["correct"]] == "cancelled"
        assert outcomes["msgbatch_x"].startswith(f"not cancelled (no endpoint 'gone' with a Batch API in {eps})")
        cancel_superseded(new, run_dir)  # each batch is cancelled once
        assert fake.stats()["openai.batches_cancelled"] == 1
    finally:
        fake.stop()


def test_force_cancels_the_batches_of_a_judge_dropped_from_the_panel(ray_session, tmp_path, monkeypatch):
    """A panel judge's batch is in flight when `--force correct` drops the panel for one judge: the dropped
    judge's folders stay where they are (its answers were paid for), and its batch, which nothing will
    collect, is cancelled once."""
    monkeypatch.setenv("FAKE_API_KEY", "sk-test")
    fake = FakeProcess(tmp_path, "--batch-delay-s", "600")
    try:
        eps = fake.batch_endpoints(POLL, POLL)
        path = panel_job(tmp_path, {"panel": ["judge_batch", "writer_batch"]})
        run_dir = RunDir(tmp_path / "run")
        old = job_mod.load(path, eps)
        run_dir.claim(old.identity(12))
        client = OpenAIBatch("writer_batch", old.endpoints["writer_batch"])
        line = client.line("fake-writer", "row0-0", STEP_CLASSES["generate"](old).request(SAMPLE_ROW, 0))
        flying = client.submit(pa.chunked_array([[line]]), "targen-dropped-judge")
        record = RunDir.batch_records("correct@writer_batch", "r0") + "/00000.json"
        run_dir.write_json(record, {"batch_id": flying, "endpoint": "writer_batch", "collected": False})

        path = panel_job(tmp_path, {"endpoint": "writer"})  # one online judge now
        summary = run(job_mod.load(path, eps), str(run_dir), limit=12, force=["correct"], in_driver=True)
        assert summary["complete"] and summary["panel"] is None
        assert client.status(flying).state == "cancelled" and fake.stats()["openai.batches_cancelled"] == 1
        assert run_dir.read_json(record)["cancel"] == "cancelled"
        run(job_mod.load(path, eps), str(run_dir), limit=12, in_driver=True)  # resumed: cancelled once
        assert fake.stats()["openai.batches_cancelled"] == 1
    finally:
        fake.stop()


def test_a_create_whose_answer_was_lost_is_found_by_its_label(tmp_path, monkeypatch):
    """The driver died during the create call: the record has no batch id. The next run adopts the batch
    OpenAI made under the record's label, and drops a record whose batch was never made (its rows are
    then sent again)."""
    monkeypatch.setenv("FAKE_API_KEY", "sk-test")
    fake = FakeProcess(tmp_path, "--batch-delay-s", "60")
    try:
        job = job_mod.load(batch_job(tmp_path), fake.batch_endpoints(POLL, POLL))
        run_dir = RunDir(tmp_path / "run")
        made, lost = "targen-label-made", "targen-label-never-made"
        for number, label in enumerate([made, lost]):
            run_dir.write_table(
                RunDir.batch_records("generate", "r0") + f"/0000{number}.parquet", pa.table({"id": [f"row{number}"]})
            )
            record = {"label": label, "batch_id": None, "submitted_at": time.time(), "collected": False}
            run_dir.write_json(RunDir.batch_records("generate", "r0") + f"/0000{number}.json", record)
        name, spec = job.batch_endpoint("generate")
        line = OpenAIBatch.line(spec.model, "row0-0", STEP_CLASSES["generate"](job).request(SAMPLE_ROW, 0))
        batch_id = OpenAIBatch(name, spec).submit(pa.chunked_array([[line]]), made)

        batch = Batch(Stage(job, "generate", run_dir, "r0", {}))
        assert [r["batch_id"] for r in batch.records.values()] == [batch_id]
        folder = tmp_path / "run" / RunDir.batch_records("generate", "r0")
        assert json.loads((folder / "00000.json").read_text())["batch_id"] == batch_id
        assert sorted(p.name for p in folder.iterdir()) == ["00000.json", "00000.parquet"]
        assert [e["batch"] for e in fake.log() if e["api"] == "openai.batch"] == [batch_id]  # none made again
    finally:
        fake.stop()


def test_an_upload_is_the_lines_joined_across_chunks():
    lines = pa.chunked_array([['{"a": 1}', '{"é": 2}'], [], ['{"c": 3}']], pa.string())
    assert joined(lines, b"\n", tail=b"\n") == '{"a": 1}\n{"é": 2}\n{"c": 3}\n'.encode()
    body = joined(lines, b",", head=b'{"requests":[', tail=b"]}")
    assert json.loads(body) == {"requests": [{"a": 1}, {"é": 2}, {"c": 3}]}


@pytest.mark.slow
def test_a_panel_of_batch_judges_sends_each_row_to_each_once(ray_session, tmp_path):
    """Step 4 by a panel whose judges are batch endpoints of two providers: each row is in one batch of
    each judge, each judge's spend is in the ledger at the batch price, and a rerun sends nothing."""
    fake = FakeProcess(tmp_path, "--batch-delay-s", "0.5")
    try:
        eps = fake.batch_endpoints(POLL, POLL)
        path = panel_job(tmp_path, {"panel": ["judge_batch", "writer_batch"]})
        summary = run(job_mod.load(path, eps), str(tmp_path / "run"), limit=20, in_driver=True)
        assert summary["complete"] and summary["panel"]["judges"] == ["judge_batch", "writer_batch"]
        made = [e for e in fake.log() if e["api"].endswith(".batch") and e["schema"] == "boolq_correct"]
        assert {e["api"] for e in made} == {"openai.batch", "anthropic.batch"}
        rows = summary["stages"]["correct"]["inputs"]
        for api in ("openai.batch", "anthropic.batch"):
            ids = [cid for e in made if e["api"] == api for cid in e["custom_ids"]]
            assert len(ids) == len(set(ids)) == rows
        for judge, price in (("judge_batch", JUDGE_PRICE), ("writer_batch", WRITER_PRICE)):
            entry = summary["ledger"][f"{judge}/batch"]
            assert entry["requests"] == summary["stages"]["correct"]["judges"][judge]["requests"] == rows
            assert entry["usd"] == pytest.approx(usd(price, entry, 0.5), abs=1e-6)  # the batch price: half
        sent = len(fake.log())
        assert run(job_mod.load(path, eps), str(tmp_path / "run"), limit=20, in_driver=True)["complete"]
        assert len(fake.log()) == sent  # resumed: nothing sent again
    finally:
        fake.stop()
