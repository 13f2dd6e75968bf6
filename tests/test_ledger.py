"""The cost ledger against what the provider saw: requests a killed driver had in flight are counted as
sent, and once, with their estimated cost; cached, cache-written and reasoning tokens, as both APIs
report them through the real SDKs, are kept in the rows and priced at their own rates."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pyarrow.compute as pc
import pytest
import yaml
from conftest import BOOLQ, ROOT, driver, exact_dedup_only
from harness.process import FakeProcess

from targen_ray.config.prices import Price
from targen_ray.engine import job as job_mod
from targen_ray.engine.runner import run
from targen_ray.engine.store import RunDir
from targen_ray.engine.summary import cost_line, paying, spent_usd

WRITER = {"input": 0.15, "output": 0.60}


def _endpoints(fake: FakeProcess, apis: tuple[str, str], writer: dict, judge: dict) -> Path:
    """The fake's endpoints file, `writer` on the first API and `judge` on the second, with these fields."""
    path = fake.endpoints(*apis)
    spec = yaml.safe_load(path.read_text())
    spec["endpoints"]["writer"].update(writer)
    spec["endpoints"]["judge"].update(judge)
    path.write_text(yaml.safe_dump(spec))
    return path


def _generations(fake: FakeProcess) -> int:
    return sum(e["schema"] == "boolq_generate" for e in fake.log())


@pytest.mark.slow  # a driver process of its own, killed
def test_requests_in_flight_on_a_killed_driver_are_counted_once(ray_session, tmp_path):
    # Every request of a block goes out at once (concurrency above the block, a limit far above reach),
    # and takes 1.5 s or more to answer: the kill finds all of step 3's first block in flight.
    fake = FakeProcess(tmp_path, "--latency-ms", "1500", "2000", "--wrong-label-rate", "0")  # one round
    try:
        fast = {"max_concurrency": 64, "rpm": 100_000, "price": WRITER}
        endpoints = _endpoints(fake, ("openai", "openai"), fast, fast)
        job_file, run_dir = exact_dedup_only(BOOLQ, tmp_path), tmp_path / "run"
        cmd, env = driver(endpoints, 20, run_dir, job_file, "--in-driver", "--no-analyze")
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 120
        while not _generations(fake):
            assert proc.poll() is None and time.monotonic() < deadline, "step 3 never started"
            time.sleep(0.05)
        seen = 0
        while (n := _generations(fake)) != seen:  # the block's requests arrive within milliseconds
            seen = n
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and its local Ray, step 3's answers not yet back
        proc.wait()
        # What the test needs: no answer of step 3 was written (an answer received but not written is
        # unanswered too, as far as the run directory knows), whatever the time the kill took.
        rd = RunDir(run_dir)
        assert rd.read(rd.stage_dir("generate")) is None and rd.read(rd.rejects("generate")) is None
        time.sleep(0.5)
        lost = _generations(fake)

        job = job_mod.load(job_file, endpoints)
        summary = run(job, str(run_dir), limit=20, in_driver=True)
        assert summary["complete"]
        unanswered = summary["unanswered"]
        # Everything the provider saw is counted, the lost requests once, at their estimated price.
        assert summary["sent"] == len(fake.log()) == summary["requests"] + unanswered["requests"]
        assert unanswered["requests"] == lost == summary["stages"]["generate"]["unanswered"]["requests"]
        assert summary["ledger"]["writer"]["unanswered"] == lost
        price = Price(**WRITER)
        estimate = price.usd(unanswered["input_tokens"], unanswered["output_tokens"])
        assert unanswered["usd"] == pytest.approx(estimate, abs=1e-6)  # kept to 6 decimals
        assert summary["spent_usd"] == pytest.approx(summary["usd"] + unanswered["usd"])
        # what the budget starts a stage from counts them too
        assert spent_usd(rd, paying(job, rd)) == pytest.approx(summary["spent_usd"], abs=1e-6)
        # The estimate is of the same requests: near what their resent twins really took in.
        generate = summary["stages"]["generate"]
        actual_in = generate["input_tokens"] / generate["requests"] * lost
        assert 0.5 * actual_in < unanswered["input_tokens"] < 2 * actual_in
        assert f"{lost} sent and never answered" in cost_line(summary)

        # Run again: nothing is sent, and nothing is counted twice.
        again = run(job, str(run_dir), limit=20, in_driver=True)
        assert len(fake.log()) == summary["sent"]
        assert (again["sent"], again["unanswered"], again["spent_usd"]) == (
            summary["sent"],
            summary["unanswered"],
            summary["spent_usd"],
        )
    finally:
        fake.stop()


def test_cached_and_reasoning_tokens_from_both_apis_are_priced_at_their_rates(ray_session, tmp_path):
    fake = FakeProcess(tmp_path, "--cached-share", "0.5", "--cache-write-share", "0.1", "--reasoning-share", "0.25")
    try:
        prices = {
            "writer": {"input": 1.0, "output": 4.0, "cached_input": 0.25},
            "judge": {"input": 3.0, "output": 15.0, "cached_input": 0.3, "cache_write": 3.75},
        }
        endpoints = _endpoints(
            fake,
            ("openai", "anthropic"),
            writer={"price": prices["writer"], "structured": "json_schema"},  # no probe: every request is a step's
            judge={"price": prices["judge"], "structured": "tools"},
        )
        run_dir = tmp_path / "run"
        summary = run(job_mod.load(exact_dedup_only(BOOLQ, tmp_path), endpoints), str(run_dir), limit=8, in_driver=True)
    finally:
        fake.stop()

    openai, anthropic = summary["ledger"]["writer"], summary["ledger"]["judge"]
    for entry, written, reasoning in ((openai, 0.0, 0.2), (anthropic, 0.1, 0.2)):
        n, tokens_in, tokens_out = entry["requests"], entry["input_tokens"], entry["output_tokens"]
        # The fake reports int(share x tokens) per request; reasoning is 0.25 of the answer, 0.2 of all output.
        assert 0.5 * tokens_in - n <= entry["cached_input_tokens"] <= 0.5 * tokens_in
        assert written * tokens_in - n <= entry["cache_write_tokens"] <= written * tokens_in
        if entry is openai:  # OpenAI reports reasoning tokens; Anthropic counts them in output_tokens only
            assert reasoning * tokens_out - n <= entry["reasoning_tokens"] <= reasoning * tokens_out
        else:
            assert entry["reasoning_tokens"] == 0
    for name, entry in (("writer", openai), ("judge", anthropic)):
        price = Price(**prices[name])
        usd = price.usd(
            entry["input_tokens"], entry["output_tokens"], entry["cached_input_tokens"], entry["cache_write_tokens"]
        )
        assert entry["usd"] == pytest.approx(usd, abs=1e-6)  # the ledger keeps 6 decimals
        uncached = Price(input=price.input, output=price.output).usd(entry["input_tokens"], entry["output_tokens"])
        assert entry["usd"] < 0.9 * uncached

    # The rows' token columns hold what the ledger adds up; the summary and estimate-vs-actual show them.
    rd = RunDir(run_dir)
    generated = [rd.read(f, columns=["generate_cached_input_tokens"]) for f in rd.paid("generate")]
    in_rows = sum(pc.sum(t["generate_cached_input_tokens"]).as_py() for t in generated if t is not None)
    assert in_rows == summary["stages"]["generate"]["cached_input_tokens"] > 0
    written = summary["stages"]["correct"]["cache_write_tokens"]
    assert summary["estimate_vs_actual"]["correct"]["cache_write_tokens"] == {"estimate": None, "actual": written}
    assert written > 0
    assert summary["cached_input_tokens"] == openai["cached_input_tokens"] + anthropic["cached_input_tokens"]
    assert f"{summary['cached_input_tokens']:,} cached" in cost_line(summary)
