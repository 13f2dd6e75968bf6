"""The embedded default provider: SmolLM2-135M-Instruct on llama.cpp, really generating, offline."""

from __future__ import annotations

import asyncio
import dataclasses
import json

import jsonschema
import pyarrow.parquet as pq
from conftest import BOOLQ, ROOT

from targen_ray import job as job_mod
from targen_ray.providers import Request, build_provider
from targen_ray.runner import run
from targen_ray.spec import EndpointSpec
from targen_ray.steps.generate import GenerateStep


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


def test_tiny_job_on_local_model(ray_session, tmp_path):
    """Four rows through all four steps on the local model: whatever the 135M model writes, every
    planned row ends up kept, rejected with a reason, or surplus, and kept rows are well formed."""
    job = job_mod.load(BOOLQ)
    job = dataclasses.replace(job, spec=job.spec.model_copy(update={"max_rounds": 1}))
    summary = run(job, str(tmp_path / "run"), limit=4)
    assert summary["rows"]["counts_add_up"]
    assert summary["stages"]["contexts"]["requests"] >= 1 and summary["input_tokens"] > 0
    assert {(k, v["model"]) for k, v in summary["ledger"].items()} == {
        ("writer", "SmolLM2-135M-Instruct-Q4_1"),
        ("judge", "SmolLM2-135M-Instruct-Q4_1"),
    }
    for split in ("train", "validation", "test"):
        path = tmp_path / "run" / "final" / split
        if path.exists():
            for row in pq.read_table(path).to_pylist():
                assert row["question"] and row["passage"] and row["label"] in (0, 1)
    rejects = tmp_path / "run" / "rejects"
    if rejects.exists():
        for part in rejects.rglob("*.parquet"):
            assert all(pq.read_table(part)["error"].to_pylist())


def test_declared_task_on_local_model(ray_session, tmp_path):
    """A task declared in its job file (no Python) on the real local model: whatever it writes, the
    counts add up and every kept row passes the declared checks."""
    job = job_mod.load(ROOT / "jobs" / "claim_evidence.yaml")  # default endpoints: local
    job = dataclasses.replace(job, spec=job.spec.model_copy(update={"max_rounds": 1}))
    summary = run(job, str(tmp_path / "run"), limit=3)
    assert summary["rows"]["counts_add_up"] and summary["input_tokens"] > 0
    for split in ("train", "validation", "test"):
        path = tmp_path / "run" / "final" / split
        if path.exists():
            for row in pq.read_table(path).to_pylist():
                assert job.task.check({k: row[k] for k in job.task.instance_fields}) is None
                assert row["label"] in (0, 1, 2)
