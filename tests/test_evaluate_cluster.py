"""`targen evaluate --model finetune` on a local two-node Ray cluster (every node on 127.0.0.1): the
fine-tune is a Ray Train job with a worker on each node, and every test row gets a prediction."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import BOOLQ, ROOT, exact_dedup_only, loopback_cluster
from harness.process import FakeProcess

from targen_ray.engine import job as job_mod
from targen_ray.engine.runner import run
from targen_ray.engine.store import RunDir

pytestmark = pytest.mark.slow  # a two-node cluster and a Ray Train job


@pytest.fixture(scope="module")
def cluster():
    with loopback_cluster(nodes=2, cpus=1) as joined:
        yield joined


def test_the_fine_tune_is_a_ray_train_job_across_both_nodes(ray_session, cluster, tmp_path):
    _, env = cluster
    fake = FakeProcess(tmp_path)
    try:
        # The run in this process, on the session's Ray (up before the cluster, so not joined to it): what
        # is tested here is the evaluation's training on the cluster.
        job = job_mod.load(exact_dedup_only(BOOLQ, tmp_path), fake.endpoints())
        assert run(job, str(tmp_path / "run"), limit=120, in_driver=True)["complete"]
    finally:
        fake.stop()
    cmd = [sys.executable, "-m", "targen_ray", "evaluate", str(tmp_path / "run"), "--model", "finetune"]
    done = subprocess.run([*cmd, "--steps", "8"], env=env, capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((tmp_path / "run" / RunDir.report() / "metrics.json").read_text())
    (own,) = metrics["evaluation"]["pairs"]
    assert own["available"] and own["training"]["workers"] == 2 and len(own["training"]["nodes"]) == 2
    assert own["training"]["steps"] == 8
    assert np.array(own["confusion"]).sum() == own["test_rows"] > 0  # every test row was predicted
    assert "synthetic train -> synthetic test: accuracy" in done.stdout
