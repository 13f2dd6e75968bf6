"""BoolQ end to end on real Ray against the fake provider over real HTTP."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from conftest import BOOLQ, ROOT, driver, exact_dedup_only, final_ids
from harness.process import FakeProcess

from targen_ray.config import SPLITS
from targen_ray.engine import job as job_mod
from targen_ray.engine import plan
from targen_ray.engine.dedup import embed
from targen_ray.engine.runner import run
from targen_ray.engine.store import RunDir
from targen_ray.fake.tasks.boolq import truth_of
from targen_ray.interface.cli import main

LINEAGE = [
    "id",
    "context_id",
    "seed_id",
    "target_label",
    "initial_label",
    "final_label",
    "corrected",
    "endpoint",
    "model",
    "judge_endpoint",
    "judge_model",
    "generate_input_tokens",
    "generate_output_tokens",
    "correct_input_tokens",
    "correct_output_tokens",
]


@pytest.mark.slow
@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_boolq_end_to_end(ray_session, fake, tmp_path, provider):
    job = job_mod.load(BOOLQ, fake.endpoints(writer=provider, judge=provider))
    run_dir = tmp_path / "run"
    # Both wire formats end to end; Ray Data's actors once (the in-driver executor writes the same run dir).
    summary = run(job, str(run_dir), limit=150, in_driver=provider == "openai")

    quotas = plan.quotas(job.spec, 150)
    assert sum(quotas.values()) == 150
    ids = []
    for split in SPLITS:
        table = pq.read_table(run_dir / RunDir.final(split))
        expected = {lbl: quotas[(split, lbl)] for lbl in range(2)}
        assert table.num_rows == sum(expected.values())
        assert table.column_names == ["question", "passage", "idx", "label", *LINEAGE]
        assert sorted(table["idx"].to_pylist()) == list(range(table.num_rows))
        assert Counter(table["label"].to_pylist()) == Counter(expected)
        rows = table.to_pylist()
        assert {(r["endpoint"], r["model"], r["judge_endpoint"], r["judge_model"]) for r in rows} == {
            ("writer", "fake-writer", "judge", "fake-judge")
        }
        assert all(r["label"] == r["final_label"] for r in rows)
        assert all(r["corrected"] == (r["final_label"] != r["initial_label"]) for r in rows)
        assert all(r["generate_input_tokens"] > 0 and r["correct_output_tokens"] > 0 for r in rows)
        # The fake plants wrong labels in 20% of generations; self-correction must have fixed every one,
        # so each kept label is the passage's truth.
        assert all(truth_of(r["passage"], r["question"]) == bool(r["label"]) for r in rows)
        ids += table["id"].to_pylist()
    assert len(ids) == len(set(ids))

    assert summary["complete"] and summary["rows"]["counts_add_up"]
    assert summary["rows"]["self_corrected"] > 0
    assert summary["rows"]["kept"] == 150
    _no_duplicates_survive(job, run_dir, summary)
    probes = sum(p["requests"] for p in summary["probes"].values())  # structured: auto, once per server and model
    assert summary["requests"] == sum(s["requests"] for s in summary["stages"].values()) + probes
    assert json.loads((run_dir / RunDir.summary_file()).read_text()) == summary

    # The original SuperGLUE layout, for the official loaders: BoolQ's labels are JSON booleans.
    assert main(["export", str(run_dir), "--format", "superglue"]) == 0
    for name, split in (("train.jsonl", "train"), ("val.jsonl", "validation"), ("test.jsonl", "test")):
        lines = [json.loads(line) for line in (run_dir / RunDir.superglue() / name).read_text().splitlines()]
        assert len(lines) == summary["splits"][split]["rows"]
        assert all(set(x) == {"question", "passage", "idx", "label"} and isinstance(x["label"], bool) for x in lines)


def _no_duplicates_survive(job, run_dir, summary) -> None:
    """Stage 5 dropped the fake's planted near-duplicate seeds (and the top-up made up for them): no final
    row is in 05_deduped, and no final row, in any split, is near another at the threshold."""
    dropped = pq.read_table(run_dir / RunDir.stage_dir("dedup"))
    d = summary["dedup"]
    assert d["near"] + d["exact"] == dropped.num_rows == summary["rows"]["deduplicated"] > 0
    assert set(dropped["reason"].to_pylist()) <= {"exact", "near"}
    final = pa.concat_tables(pq.read_table(run_dir / RunDir.final(s), columns=["id"]) for s in SPLITS)["id"]
    assert not set(final.to_pylist()) & set(dropped["id"].to_pylist())
    emb = pq.read_table(run_dir / RunDir.embeddings())
    x = embed.vectors(emb.take(pc.index_in(final, emb["id"])))
    sims = x @ x.T - 2 * np.eye(len(x))
    assert sims.max() < job.spec.dedup.threshold


def test_revoked_key_stops_run_with_one_line(fake, tmp_path):
    """A 401 is not retried: the CLI exits non-zero naming the endpoint, and publishes no final/."""
    run_dir = tmp_path / "run"
    cmd, env = driver(fake.endpoints(), 10, run_dir, FAKE_API_KEY="sk-revoked")
    before = fake.stats().get("openai.401", 0)
    proc = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("targen: error:")]
    assert errors == ["targen: error: endpoint 'writer' rejected the API key (401)"]
    assert not (run_dir / RunDir.final()).exists()
    # Stage 1 makes a single request for 10 rows; no retries after the 401.
    assert fake.stats()["openai.401"] - before == 1


def test_budget_stops_at_the_cap_and_keeps_what_was_paid(ray_session, fake, tmp_path):
    """One worker, one request at a time: the spend ends within one reservation under the cap."""
    price = {"input": 0.0, "output": 1000.0}  # $0.001 per output token: a seeds request reserves $1.20
    endpoints = fake.endpoints(price=price, workers=1, max_concurrency=1)
    job = job_mod.load(BOOLQ, endpoints)
    job = dataclasses.replace(job, spec=job.spec.model_copy(update={"budget_usd": 6.0}))
    run_dir = tmp_path / "run"
    summary = run(job, str(run_dir), limit=60, in_driver=True)

    assert summary["stopped"].startswith("budget_usd 6.0 reached")
    largest_reservation = 1200 * price["output"] / 1e6
    assert 6.0 - largest_reservation <= summary["usd"] <= 6.0
    assert summary["usd"] == pytest.approx(sum(e["usd"] for e in summary["ledger"].values()))
    assert summary["rows"]["counts_add_up"]  # what was generated before the stop is split, not lost


def test_estimate_needs_no_key_and_matches_a_real_run_in_requests(fake, tmp_path, capsys, monkeypatch):
    from targen_ray.interface.cli import main

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert main(["estimate", str(BOOLQ), "--endpoints", str(ROOT / "jobs/endpoints/openai.yaml")]) == 0
    out = capsys.readouterr().out
    assert "total" in out and "min" in out
    assert main(["estimate", str(BOOLQ), "--endpoints", str(fake.endpoints()), "--json", "--limit", "150"]) == 0
    est = json.loads(capsys.readouterr().out)
    planned = len(plan.slots(plan.quotas(job_mod.load(BOOLQ, fake.endpoints()).spec, 150), 0.1, "boolq", 0))
    assert est["generate"]["requests"] == est["correct"]["requests"] == planned  # 150 rows + ~10% planned extra
    assert est["total"]["minutes"] is None  # no rate limits set: time is not implied


@pytest.mark.slow
def test_same_job_same_ids(ray_session, tmp_path):
    """Ids derive from the job and the request, never from the order requests complete in: with one
    row per batch and random latency, two runs (one through Ray Data's actors, one from the driver) agree."""
    fake = FakeProcess(tmp_path, "--latency-ms", "0", "80")
    try:
        job = job_mod.load(exact_dedup_only(BOOLQ, tmp_path), fake.endpoints(writer="openai", judge="openai"))
        job = dataclasses.replace(job, spec=job.spec.model_copy(update={"batch_size": 1}))
        ids = []
        for name, in_driver in (("actors", False), ("driver", True)):  # and whichever executor sent them
            run(job, str(tmp_path / name), limit=24, in_driver=in_driver)
            ids.append(final_ids(tmp_path / name))
        assert ids[0] == ids[1]
    finally:
        fake.stop()


@pytest.mark.slow  # two full pipelines with embedding
def test_stage5_drops_the_same_rows_whether_embedding_overlapped_step4_or_came_after(
    ray_session, fake, tmp_path, capsys
):
    """With `dedup.overlap`, step 4's rows are embedded as it writes them; without, by stage 5 after it.
    The same seeded run drops the same rows and keeps the same final rows either way."""
    job = job_mod.load(BOOLQ, fake.endpoints())
    after = job.spec.model_copy(update={"dedup": job.spec.dedup.model_copy(update={"overlap": False})})
    embedded = {}
    for name, j in (("live", job), ("after", dataclasses.replace(job, spec=after))):
        run(j, str(tmp_path / name), limit=200, in_driver=True)
        lines = re.findall(r"\[dedup\] (\d+) rows embedded \((\d+) while step 4", capsys.readouterr().err)
        embedded[name] = [tuple(map(int, line)) for line in lines]
    assert embedded["live"][0][1] > 0  # the first round's rows were embedded while step 4 ran
    assert all(live == 0 for _, live in embedded["after"])
    total = {name: sum(n for n, _ in counts) for name, counts in embedded.items()}
    assert total["live"] == total["after"] == pq.read_table(tmp_path / "live" / RunDir.embeddings()).num_rows
    dropped = {
        name: sorted(pq.read_table(tmp_path / name / RunDir.stage_dir("dedup"))["id"].to_pylist()) for name in embedded
    }
    assert dropped["live"] == dropped["after"] and dropped["live"]
    assert final_ids(tmp_path / "live") == final_ids(tmp_path / "after")
