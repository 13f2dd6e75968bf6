"""`targen evaluate --model finetune` on a local two-node Ray cluster (every node on 127.0.0.1): the
fine-tune is a Ray Train job with a worker on each node, and every test row gets a prediction."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT, copy_run, loopback_cluster

from targen_ray.engine.store import RunDir

pytestmark = pytest.mark.slow  # a two-node cluster and a Ray Train job


@pytest.fixture(scope="module")
def cluster():
    with loopback_cluster(nodes=2, cpus=1) as joined:
        yield joined


def test_the_fine_tune_is_a_ray_train_job_across_both_nodes(finished_boolq, cluster, tmp_path):
    _, env = cluster
    run_dir = copy_run(finished_boolq, tmp_path)  # made on the session's Ray, before the cluster: the
    # evaluation's training on the cluster is what is tested here
    cmd = [sys.executable, "-m", "targen_ray", "evaluate", str(run_dir), "--model", "finetune"]
    done = subprocess.run([*cmd, "--steps", "8"], env=env, capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((run_dir / RunDir.report() / "metrics.json").read_text())
    (own,) = metrics["evaluation"]["pairs"]
    assert own["available"] and own["training"]["workers"] == 2 and len(own["training"]["nodes"]) == 2
    assert own["training"]["steps"] == 8
    assert np.array(own["confusion"]).sum() == own["test_rows"] > 0  # every test row was predicted
    assert "synthetic train -> synthetic test: accuracy" in done.stdout
