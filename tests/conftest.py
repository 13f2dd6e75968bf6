"""Shared fixtures: one local Ray per session, the fake provider as a real server on loopback."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import ray
from harness.process import FakeProcess, exact_dedup_only  # noqa: F401  (tests import it from here)
from harness.starve import busy_loops
from ray.cluster_utils import Cluster

from targen_ray.config import SPLITS
from targen_ray.engine.store import RunDir

# Nothing may come from a hub at run time: the Hugging Face libraries are told so before any imports them.
os.environ.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")

ROOT = Path(__file__).resolve().parents[1]
BOOLQ = ROOT / "jobs" / "boolq.yaml"
MANUAL_QA = ROOT / "jobs" / "manual_qa.yaml"
FAKE_KEY = "sk-test-fake-0123456789"


def driver(endpoints, limit: int, run_dir, job=BOOLQ, *extra: str, **env: str) -> tuple[list[str], dict]:
    """Command and environment for `targen run` of a job (BoolQ by default) as its own driver process,
    which starts its own local Ray (not the test session's)."""
    cmd = [
        sys.executable,
        "-m",
        "targen_ray",
        "run",
        str(job),
        "--endpoints",
        str(endpoints),
        "--limit",
        str(limit),
        "--run-dir",
        str(run_dir),
        *extra,
    ]
    return cmd, {**os.environ, "RAY_ADDRESS": "", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", **env}  # Ray on loopback


@contextlib.contextmanager
def loopback_cluster(nodes: int, cpus: int):
    """A Ray cluster on this machine, every node on 127.0.0.1: a head with no CPU (so work lands on the
    others) and `nodes` nodes of `cpus` CPUs. Yields it and the environment a driver joins it with."""
    os.environ["FAKE_API_KEY"] = FAKE_KEY  # the nodes' workers read the key from their node's environment
    loopback = {"node_ip_address": "127.0.0.1", "include_dashboard": False}
    cluster = Cluster(initialize_head=True, head_node_args={**loopback, "num_cpus": 0})
    try:
        for _ in range(nodes):
            cluster.add_node(**loopback, num_cpus=cpus)
        cluster.wait_for_nodes()
        yield cluster, {**os.environ, "RAY_ADDRESS": cluster.address, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    finally:
        cluster.shutdown()


def final_ids(run_dir) -> dict[str, list[str]]:
    return {s: sorted(pq.read_table(Path(run_dir) / RunDir.final(s))["id"].to_pylist()) for s in SPLITS}


@pytest.fixture(scope="session")
def ray_session():
    # Workers inherit the driver's environment at ray.init: the fake key must be set before.
    os.environ["FAKE_API_KEY"] = FAKE_KEY
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
    yield
    ray.shutdown()


@pytest.fixture(scope="session")
def fake(tmp_path_factory):
    os.environ["FAKE_API_KEY"] = FAKE_KEY
    server = FakeProcess(tmp_path_factory.mktemp("fake"), "--wrong-label-rate", "0.2", "--invalid-key", "sk-revoked")
    yield server
    server.stop()


# One finished run per shape, made once per session for the tests that only read a finished run
# (publish, Iceberg, evaluate, review), stage 5 exact only, sent from the driver. Never written to: a
# test that writes into a run (a report, review decisions) works on `copy_run` of it. (ReCoRD's one run
# is test_task_record's own: no other test reads a ReCoRD run.)
@pytest.fixture(scope="session")
def finished_boolq(ray_session, fake, tmp_path_factory) -> Path:
    """BoolQ, 120 rows, analysed (a card has its analysis)."""
    from analysis.analyze import analyze

    run_dir = _finished(BOOLQ, 120, fake, tmp_path_factory.mktemp("finished-boolq"))
    analyze(str(run_dir))
    return run_dir


@pytest.fixture(scope="session")
def finished_manual_qa(ray_session, fake, tmp_path_factory) -> Path:
    """A declared extractive task (jobs/manual_qa.yaml: no labels, an answer span of its context), 400
    rows: enough for a model to learn where its answer is."""
    return _finished(MANUAL_QA, 400, fake, tmp_path_factory.mktemp("finished-manual-qa"))


def _finished(job_file: Path, limit: int, fake: FakeProcess, folder: Path) -> Path:
    from targen_ray.engine import job as job_mod
    from targen_ray.engine.runner import run

    job = job_mod.load(exact_dedup_only(job_file, folder), fake.endpoints())
    assert run(job, str(folder / "run"), limit=limit, in_driver=True)["complete"]
    return folder / "run"


def copy_run(run_dir: Path, folder: Path) -> Path:
    """A copy of a finished run to write into."""
    return Path(shutil.copytree(run_dir, folder / "run"))


def pytest_addoption(parser):
    parser.addoption(
        "--busy-loops",
        type=int,
        default=0,
        help="run N busy loops beside the whole session (the limiter's starvation check, tests/README.md)",
    )


@pytest.fixture(scope="session", autouse=True)
def _starved(request):
    with busy_loops(request.config.getoption("--busy-loops")):
        yield
