"""The embedded default provider: SmolLM2-135M-Instruct on llama.cpp, really generating, offline."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import re
import subprocess
import sys

import jsonschema
import pyarrow.parquet as pq
import pytest
from conftest import BOOLQ, ROOT
from harness.process import job_copy

from targen_ray.config import STEPS, EndpointSpec
from targen_ray.engine import job as job_mod
from targen_ray.engine.providers import Request, build_provider
from targen_ray.engine.runner import run
from targen_ray.engine.steps.generate import GenerateStep
from targen_ray.engine.store import RunDir

pytestmark = pytest.mark.slow  # the local model

# A line Ray (or a library through it) writes at warning level or above: Python logging, C++ glog, warnings.
RAY_LINE = re.compile(r"\b(WARNING|ERROR|CRITICAL)\b|^\[[^\]]* [EWF] \d+ \d+\]|Warning:|warnings\.warn")


def test_smollm2_answers_schema_valid_json():
    job = job_mod.load(BOOLQ)  # default endpoints: local
    schema = GenerateStep(job).schema()
    provider = build_provider("writer", EndpointSpec(provider="local", model="smollm2", n_ctx=1024))
    request = Request(
        system="Reply with JSON only.",
        prompt="Passage:\nThe Elsford Rowing Club was founded in 1887.\n\nRequired answer: yes\n\n"
        'Write a yes/no question about the passage. Return JSON: {"question": "...", "label": "yes"}',
        schema_name="boolq_generate",
        schema=schema,
        max_tokens=60,
        temperature=0.7,
        top_p=0.9,
        seed=7,
    )
    response = asyncio.run(provider.complete(request))
    jsonschema.validate(json.loads(response.text), schema)
    assert response.input_tokens > 20 and response.output_tokens > 3


def test_declared_task_on_local_model(ray_session, tmp_path):
    """A task declared in its job file (no Python) on the real local model: whatever it writes, the
    counts add up and every kept row passes the declared checks."""
    job = job_mod.load(ROOT / "jobs" / "claim_evidence.yaml")  # default endpoints: local
    job = dataclasses.replace(job, spec=job.spec.model_copy(update={"max_rounds": 1}))
    summary = run(job, str(tmp_path / "run"), limit=3, in_driver=True)  # the model, not Ray Data, is tested
    assert summary["rows"]["counts_add_up"] and summary["input_tokens"] > 0
    for split in ("train", "validation", "test"):
        path = tmp_path / "run" / RunDir.final(split)
        if path.exists():
            for row in pq.read_table(path).to_pylist():
                assert job.task.check({k: row[k] for k in job.task.instance_fields}) is None
                assert row["label"] in (0, 1, 2)


def test_the_demo_run_is_quiet_and_ends_with_samples_and_paths(tmp_path):
    """`make demo`'s command (the local model) at --limit 4, as its own driver: whatever the 135M model
    writes, every planned row ends up kept, rejected with a reason, or surplus, and kept rows are well
    formed; the terminal holds targen's own lines and no line of Ray's at warning level or above (those
    are in the run's log file). One round, not the job's five: the 135M model rejects so much that each
    top-up round costs ~30 s, and a round more shows nothing the first does not."""
    run_dir, job = tmp_path / "demo", job_copy(BOOLQ, tmp_path, "one-round", max_rounds=1)
    endpoints = ROOT / "jobs" / "endpoints" / "local.yaml"  # the default of BOOLQ, not of its copy
    cmd = [sys.executable, "-m", "targen_ray", "run", str(job), "--endpoints", str(endpoints)]
    cmd += ["--limit", "4", "--run-dir", str(run_dir)]
    done = subprocess.run(cmd, env={**os.environ, "RAY_ADDRESS": ""}, capture_output=True, text=True, timeout=900)
    summary = json.loads((run_dir / RunDir.summary_file()).read_text())
    assert summary["rows"]["counts_add_up"] and done.returncode == (0 if summary["complete"] else 4), done.stderr
    assert summary["stages"]["contexts"]["requests"] >= 1 and summary["input_tokens"] > 0
    assert {(k, v["model"]) for k, v in summary["ledger"].items()} == {
        ("writer", "SmolLM2-135M-Instruct-Q4_1"),
        ("judge", "SmolLM2-135M-Instruct-Q4_1"),
    }
    for split in ("train", "validation", "test"):
        if (run_dir / RunDir.final(split)).exists():
            for row in pq.read_table(run_dir / RunDir.final(split)).to_pylist():
                assert row["question"] and row["passage"] and row["label"] in (0, 1)
    for step in STEPS:
        for part in (run_dir / RunDir.rejects(step)).glob("*.parquet"):
            assert all(pq.read_table(part)["error"].to_pylist())
    ray_lines = [line for line in done.stderr.splitlines() if RAY_LINE.search(line)]
    assert ray_lines == [], ray_lines
    assert all(line.startswith(("[", "targen: ")) for line in done.stderr.splitlines()), done.stderr
    out = done.stdout.splitlines()
    assert [line.split(":")[0] for line in out[-6:]] == ["dataset", "dedup", "summary", "cost", "log", "report"], out
    made = sum(s["rows"] for s in summary["splits"].values())
    assert sum(line.startswith("sample ") for line in out) == min(3, made)
    assert RAY_LINE.search((run_dir / RunDir.log_file()).read_text())  # what Ray said is kept, not lost
