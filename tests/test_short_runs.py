"""A run that misses its quotas fails loudly and early: a judge that answers prose (as llama.cpp's server
does when it ignores the forced tool call) stops the run in its first round with exit status 4 and the
reason; a run cut short by its budget keeps status 3; publish refuses a short run unless told."""

from __future__ import annotations

import json
import urllib.request

import pytest
import yaml
from conftest import BOOLQ, FAKE_KEY, exact_dedup_only
from harness.process import FakeProcess

from targen_ray.engine.breakers import ErrorRate, Trip
from targen_ray.engine.execute.sink import stopped_by
from targen_ray.engine.store import RunDir
from targen_ray.errors import RunError, StageFailed
from targen_ray.interface.cli import main


@pytest.fixture(scope="module")
def prose_judge(ray_session, tmp_path_factory):
    """The fake, its judge model answering in prose instead of the forced tool call."""
    server = FakeProcess(tmp_path_factory.mktemp("fake"), "--prose-model", "fake-judge")
    yield server
    server.stop()


def run_cli(capsys, monkeypatch, *argv: str) -> tuple[int, list[str]]:
    monkeypatch.setenv("FAKE_API_KEY", FAKE_KEY)
    code = main(["run", *argv, "--no-analyze", "--in-driver"])
    return code, capsys.readouterr().err.strip().splitlines()


def test_a_judge_answering_prose_ends_the_run_in_its_first_round(prose_judge, tmp_path, capsys, monkeypatch):
    run_dir = tmp_path / "run"
    job = exact_dedup_only(BOOLQ, tmp_path)
    code, err = run_cli(
        capsys,
        monkeypatch,
        str(job),
        "--endpoints",
        str(prose_judge.endpoints()),
        "--limit",
        "12",
        "--run-dir",
        str(run_dir),
    )
    assert code == 4
    summary = json.loads((run_dir / RunDir.summary_file()).read_text())
    assert summary["rounds"] == 1 and not summary["complete"] and summary["stopped"] is None
    short = summary["short"]
    assert set(short["splits"]) == {"train", "validation", "test"}
    assert all(v["rows"] == 0 and v["target"] > 0 for v in short["splits"].values())
    assert "step correct: the first 8 rows all failed the same way (invalid JSON" in short["why"]
    assert list(short["top_rejects"]["correct"]) == ["invalid JSON"]
    assert not any("[round 1]" in line for line in err)  # no second round paid for the same failure
    last = err[-1]
    assert last.startswith("targen: error: splits short of their targets: train 0/")
    assert "top rejects: correct: invalid JSON x" in last

    # publish refuses it in one line, unless told; then the card and the manifest say so
    dest = tmp_path / "dest"
    assert main(["publish", str(run_dir), str(dest)]) == 2
    refused = capsys.readouterr().err.strip().splitlines()
    assert len(refused) == 1 and "the run is not complete" in refused[0] and not dest.exists()


def _job(tmp_path, **changes) -> str:
    """BoolQ with stage 5 exact only and no re-asks: an unusable answer is one failed try."""
    spec = {**yaml.safe_load(exact_dedup_only(BOOLQ, tmp_path).read_text()), "parse_retries": 0, **changes}
    job = tmp_path / "boolq.yaml"
    job.write_text(yaml.safe_dump(spec))
    return str(job)


def test_a_round_that_kept_no_row_after_a_few_tries_is_followed_by_another(ray_session, tmp_path, capsys, monkeypatch):
    """At --limit 4, step 2 sends two requests: both answered unusably (as a small model on
    llama-cpp-python's server did), round 0 keeps no row after 2 tries, fewer than the breaker judges
    a stage by; the next round's answers are fine and the quotas are met."""
    # --fault-seed 22 at a 25% share: the 1st request (step 1) is answered, the 2nd and 3rd (round 0's
    # step 2) are not, the 4th on are (each a 25% draw, never more than 3 bad in a row).
    server = FakeProcess(tmp_path, "--bad-content-rate", "0.25", "--fault-seed", "22")
    try:
        endpoints = server.endpoints(judge="openai", structured="json_schema")  # no probe: draws in a known order
        run_dir = tmp_path / "run"
        code, err = run_cli(
            capsys,
            monkeypatch,
            _job(tmp_path),
            "--endpoints",
            str(endpoints),
            "--limit",
            "4",
            "--run-dir",
            str(run_dir),
        )
        log = json.loads(urllib.request.urlopen(f"{server.url}/log").read())
    finally:
        server.stop()
    first = [e.get("fault") for e in log[:3]]
    assert [e["schema"] for e in log[:3]] == ["boolq_contexts", "boolq_seeds", "boolq_seeds"]
    assert first == [None, "bad_content", "bad_content"]
    assert "[round 0] round 0 kept no row after 2 tries (the breaker judges a stage after 8): another round" in err
    summary = json.loads((run_dir / RunDir.summary_file()).read_text())
    assert code == 0 and summary["complete"] and summary["rounds"] >= 2


def test_rounds_that_keep_no_row_end_the_run_once_the_breaker_could_judge(prose_judge, tmp_path, capsys, monkeypatch):
    """Step 2 on a model that answers prose: every round keeps no row. Round 0 (2 tries) and round 1
    (5 more, each under the 8 rows the breaker judges a small stage by) go on; round 2 reaches 12 and
    ends the run short, exit 4, saying the count. No round is paid for after that."""
    steps = yaml.safe_load(BOOLQ.read_text())["steps"]
    job = _job(tmp_path, steps={**steps, "seeds": {**steps["seeds"], "endpoint": "judge"}})
    run_dir = tmp_path / "run"
    code, err = run_cli(
        capsys, monkeypatch, job, "--endpoints", str(prose_judge.endpoints()), "--limit", "4", "--run-dir", str(run_dir)
    )
    assert code == 4
    said = "round 2 kept no row after 12 tries (the breaker judges a stage after 8)"
    assert f"[round 2] {said}; no more rounds" in err and not any("[round 3]" in line for line in err)
    summary = json.loads((run_dir / RunDir.summary_file()).read_text())
    assert summary["rounds"] == 3 and not summary["complete"] and summary["short"]["why"] == said
    assert err[-1].startswith("targen: error: splits short of their targets: train 0/")


def test_a_budget_stop_keeps_its_own_status(fake, tmp_path, capsys, monkeypatch):
    spec = yaml.safe_load(exact_dedup_only(BOOLQ, tmp_path).read_text())
    spec["budget_usd"] = 0.2
    job = tmp_path / "budget.yaml"
    job.write_text(yaml.safe_dump(spec))
    # Only the judge costs: $0.001 an output token, so a step-4 request reserves $0.16 (160 tokens) and
    # costs ~$0.015; one at a time, a few rows are judged before the next reservation would pass the cap.
    endpoints = yaml.safe_load(fake.endpoints(workers=1, max_concurrency=1).read_text())
    endpoints["endpoints"]["judge"]["price"] = {"input": 0.0, "output": 1000.0}
    priced = tmp_path / "endpoints.yaml"
    priced.write_text(yaml.safe_dump(endpoints))
    run_dir = tmp_path / "run"
    code, err = run_cli(
        capsys, monkeypatch, str(job), "--endpoints", str(priced), "--limit", "12", "--run-dir", str(run_dir)
    )
    summary = json.loads((run_dir / RunDir.summary_file()).read_text())
    assert code == 3 and summary["stopped"].startswith("budget_usd 0.2 reached")
    assert not summary["complete"] and summary["short"]["splits"]
    assert "budget_usd" in err[-1]

    dest = tmp_path / "dest"
    assert main(["publish", str(run_dir), str(dest), "--allow-incomplete"]) == 0
    manifest = json.loads((dest / "manifest.json").read_text())
    assert manifest["complete"] is False
    assert "**Incomplete**: published short of the splits asked for" in (dest / "README.md").read_text()


def test_breaker_judges_a_small_stage_by_its_first_rows():
    breaker = ErrorRate(0.2, 100)
    assert breaker.add(["invalid JSON: Expecting value: line 1 column 1 (char 0)"] * 7) is None
    trip = breaker.add(["invalid JSON: Expecting value: line 1 column 1 (char 0)"])
    assert trip.unanimous and "the first 8 rows all failed the same way (invalid JSON: Expecting value" in trip.reason
    mixed = ErrorRate(0.2, 100)  # one success among the first rows: a small stage goes on
    assert mixed.add(["invalid JSON: x"] * 7 + [None]) is None and mixed.add(["invalid JSON: x"] * 50) is None
    varied = ErrorRate(0.2, 100)  # failures of different kinds are not one broken setting
    assert varied.add(["boolq check: question.min_words: 2"] * 4 + ["schema violation: at label"] * 4) is None
    full = ErrorRate(0.2, 10)  # the rate over a full window still trips, unanimous or not
    trip = full.add([None] * 7 + ["provider error: 500 (after 5 attempts)"] * 3)
    assert trip is not None and not trip.unanimous and "3 of the last 10 rows failed" in trip.reason


def test_a_tripped_breaker_stops_the_run_or_ends_it_short():
    rate = stopped_by("correct", "runs/x", Trip("30 of the last 100 rows failed (most often: invalid JSON)", False))
    assert type(rate) is RunError and str(rate).startswith("step correct stopped: 30 of the last 100 rows failed")
    assert "targen retry-rejects runs/x" in str(rate)
    small = stopped_by("correct", "runs/x", Trip("the first 8 rows all failed the same way (invalid JSON)", True))
    assert (
        isinstance(small, StageFailed)
        and str(small) == "step correct: the first 8 rows all failed the same way (invalid JSON)"
    )
