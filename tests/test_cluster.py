"""Clusters: cluster.yaml through Ray's own schema and config validation, the KubeRay RayJob, and a real
Ray head on loopback taking the BoolQ job by plain `ray job submit` and by `targen submit`."""

from __future__ import annotations

import copy
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import ray
import yaml
from conftest import FAKE_KEY, ROOT
from harness.process import free_port
from ray.autoscaler._private.util import prepare_config, validate_config

from targen_ray.config import SPLITS
from targen_ray.engine.store import RunDir
from targen_ray.interface.cli import main
from targen_ray.interface.submit import client

BIN = Path(sys.executable).parent
LIMIT = 30


def test_cluster_yaml_passes_rays_schema_and_config_validation():
    config = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    validate_config(config)  # ray-schema.json, shipped inside the ray package, and Ray's own checks
    validate_config(prepare_config(copy.deepcopy(config)))  # merged with Ray's AWS defaults, as `ray up` does
    assert config["provider"]["type"] == "aws"
    assert config["available_node_types"][config["head_node_type"]]["resources"] == {"CPU": 0}
    setup = " ".join(config["setup_commands"])
    assert f"ray[default,data]=={ray.__version__}" in setup and "-e /home/ubuntu/targen-ray" in setup
    assert "torch==2.13.0" in setup and config["file_mounts"] == {"/home/ubuntu/targen-ray": "."}
    _no_secrets(ROOT / "cluster.yaml")


def test_rayjob_runs_the_same_entrypoint_on_a_cpu_head():
    rayjob = yaml.safe_load((ROOT / "k8s" / "rayjob.yaml").read_text())
    assert (rayjob["apiVersion"], rayjob["kind"]) == ("ray.io/v1", "RayJob")
    assert rayjob["spec"]["entrypoint"].startswith("targen run jobs/boolq.yaml --endpoints jobs/endpoints/openai.yaml")
    cluster = rayjob["spec"]["rayClusterSpec"]
    assert cluster["rayVersion"] == ray.__version__
    assert cluster["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
    pods = [cluster["headGroupSpec"]["template"], *(g["template"] for g in cluster["workerGroupSpecs"])]
    for pod in pods:  # keys come from a Kubernetes Secret, never from this file
        (container,) = pod["spec"]["containers"]
        assert container["envFrom"] == [{"secretRef": {"name": "targen-api-keys"}}] and "env" not in container
    _no_secrets(ROOT / "k8s" / "rayjob.yaml")


def _no_secrets(path: Path) -> None:
    text = path.read_text()
    for marker in ("sk-", "AKIA", "aws_secret_access_key", "api_key:"):
        assert marker not in text, f"{path}: {marker}"


@pytest.fixture(scope="module")
def head():
    """`ray start --head --block` on 127.0.0.1, with the key in the node's environment as a cluster's
    nodes have it; its own temp dir, so no other driver here finds and joins it; stopped by its group."""
    temp = tempfile.mkdtemp(prefix="rayhead-", dir="/tmp")  # short: Ray's socket paths have a length limit
    dashboard = free_port()
    # Token authentication, as on a real cluster: the head and every client here use ~/.ray/auth_token.
    subprocess.run([str(BIN / "ray"), "get-auth-token", "--generate"], check=True, capture_output=True)
    env = {**os.environ, "RAY_ADDRESS": "", "FAKE_API_KEY": FAKE_KEY, "PATH": f"{BIN}:{os.environ['PATH']}"}
    env["RAY_AUTH_MODE"] = "token"
    cmd = [str(BIN / "ray"), "start", "--head", "--block", f"--port={free_port()}", "--node-ip-address=127.0.0.1"]
    cmd += [f"--dashboard-port={dashboard}", "--dashboard-host=127.0.0.1", "--num-cpus=2", f"--temp-dir={temp}"]
    cmd += ["--object-store-memory=400000000", "--disable-usage-stats"]
    # Ports of its own: the test session's Ray already holds the defaults (an agent that cannot bind its
    # port never registers, and the head then refuses every job).
    for flag in (
        "ray-client-server",
        "dashboard-agent-listen",
        "dashboard-agent-grpc",
        "metrics-export",
        "runtime-env-agent",
    ):
        cmd.append(f"--{flag}-port={free_port()}")
    log = open(Path(temp) / "head.log", "w")  # noqa: SIM115  (open for the head's whole life)
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    address = f"http://127.0.0.1:{dashboard}"
    try:
        _wait_for_job_api(address, proc, Path(temp) / "head.log")
        yield address
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:  # nothing of the head is needed after: a head slow to stop (30 s and more here) is killed
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
        shutil.rmtree(temp, ignore_errors=True)


def _wait_for_job_api(address: str, proc, log: Path) -> None:
    """Until the head takes jobs: its job API answers before its node's job agent has registered, and
    Ray refuses a job until then ("No available agent to submit job"), so a first job must go through."""
    deadline = time.monotonic() + 120
    while True:
        try:
            warm_up = client(address).submit_job(entrypoint="true")
            break
        except Exception:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the Ray head did not start:\n{log.read_text()[-3000:]}") from None
            time.sleep(1)
    assert _finished(address, warm_up, timeout_s=120) == "SUCCEEDED"


@pytest.fixture
def work(fake, tmp_path):
    """The folder a user submits from: the BoolQ job (exact dedup only: stage 5 has its own tests) and
    its prompts, and endpoints for the fake provider, all inside it."""
    shutil.copytree(ROOT / "prompts" / "boolq", tmp_path / "work" / "prompts" / "boolq")
    spec = yaml.safe_load((ROOT / "jobs" / "boolq.yaml").read_text())
    spec["dedup"] = {**spec.get("dedup", {}), "near": False}
    (tmp_path / "work" / "jobs" / "endpoints").mkdir(parents=True)
    (tmp_path / "work" / "jobs" / "boolq.yaml").write_text(yaml.safe_dump(spec))
    shutil.copy(fake.endpoints(), tmp_path / "work" / "jobs" / "endpoints" / "fake.yaml")
    return tmp_path / "work"


def _finished(address: str, sub_id: str, timeout_s: float = 300) -> str:
    jobs, deadline = client(address), time.monotonic() + timeout_s
    while (status := str(jobs.get_job_status(sub_id))) not in {"SUCCEEDED", "FAILED", "STOPPED"}:
        assert time.monotonic() < deadline, f"{sub_id} still {status}"
        time.sleep(1)
    return status


def _check_run(run_dir: Path) -> None:
    summary = json.loads((run_dir / RunDir.summary_file()).read_text())
    assert summary["complete"] and summary["rows"]["kept"] == LIMIT
    assert sum(pq.read_table(run_dir / RunDir.final(s)).num_rows for s in SPLITS) == LIMIT
    assert (run_dir / RunDir.report() / "report.html").exists()


@pytest.mark.slow
def test_plain_ray_job_submit_runs_the_job(head, work, tmp_path):
    run_dir = tmp_path / "run"
    cmd = [str(BIN / "ray"), "job", "submit", "--address", head, "--working-dir", str(work), "--"]
    cmd += ["targen", "run", "jobs/boolq.yaml", "--endpoints", "jobs/endpoints/fake.yaml", "--limit", str(LIMIT)]
    cmd += ["--run-dir", str(run_dir), "--in-driver"]  # what is tested is the submission, not Ray Data's actors
    env = {**os.environ, "RAY_ADDRESS": "", "RAY_AUTH_MODE": "token"}  # README: how to reach a token cluster
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "succeeded" in out.stdout.lower() and "dataset:" in out.stdout
    _check_run(run_dir)


@pytest.mark.slow
def test_targen_submit_status_logs_stop(head, work, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(work)
    run_dir = tmp_path / "run"
    argv = ["submit", "jobs/boolq.yaml", "--endpoints", "jobs/endpoints/fake.yaml", "--address", head]
    argv += ["--limit", str(LIMIT), "--run-dir", str(run_dir)]
    assert main([*argv, "--no-wait"]) == 0
    sub_id = capsys.readouterr().out.strip()
    assert sub_id.startswith("targen-boolq-")
    assert main([*argv, "--no-wait"]) == 2  # the same work again: refused, not paid twice
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and sub_id in err[0] and "already submitted" in err[0]

    # While it runs (jobs on one cluster run side by side): another submission, stopped, can be submitted
    # again, as the next attempt, which continues its run directory ...
    other = [*argv[:-2], "--run-dir", str(tmp_path / "other"), "--no-wait"]
    assert main(other) == 0
    first = capsys.readouterr().out.strip()
    assert main(["stop", first, "--address", head]) == 0
    assert capsys.readouterr().out.startswith(f"{first}: stopping")
    assert _finished(head, first) == "STOPPED"
    assert main(other) == 0
    again = capsys.readouterr().out.strip()
    assert again == f"{first}-2"
    # ... and one with a key the cluster's nodes do not have fails at once, naming the variable.
    endpoints = yaml.safe_load((work / "jobs" / "endpoints" / "fake.yaml").read_text())
    for endpoint in endpoints["endpoints"].values():
        endpoint["api_key_env"] = "TARGEN_TEST_MISSING_KEY"
    (work / "jobs" / "endpoints" / "nokey.yaml").write_text(yaml.safe_dump(endpoints))
    nokey = ["submit", "jobs/boolq.yaml", "--endpoints", "jobs/endpoints/nokey.yaml", "--address", head]
    assert main([*nokey, "--run-dir", str(tmp_path / "nokey"), "--no-wait"]) == 0
    failed = capsys.readouterr().out.strip()

    assert _finished(head, sub_id) == "SUCCEEDED"
    assert main(["status", sub_id, "--address", head]) == 0
    assert capsys.readouterr().out.startswith(f"{sub_id}: SUCCEEDED")
    assert main(["logs", sub_id, "--address", head]) == 0
    assert "dataset:" in capsys.readouterr().out
    _check_run(run_dir)
    info = client(head).get_job_info(sub_id)
    assert FAKE_KEY not in json.dumps([info.metadata, info.runtime_env, info.entrypoint])
    assert set(info.runtime_env["excludes"]) >= {".git", ".venv", "runs"}
    assert _finished(head, again) == "SUCCEEDED"
    _check_run(tmp_path / "other")
    assert main(["status", "targen-no-such-job", "--address", head]) == 2
    assert _finished(head, failed) == "FAILED"
    capsys.readouterr()
    assert main(["logs", failed, "--address", head]) == 0
    assert "environment variable TARGEN_TEST_MISSING_KEY is not set" in capsys.readouterr().out
