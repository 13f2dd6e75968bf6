"""Stage 5's embedding on a local multi-node Ray cluster (every node on 127.0.0.1): the actors that
embed step 4's rows as it writes them spread over the nodes, and the run's output is exact."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml
from conftest import BOOLQ, loopback_cluster
from harness.process import FakeProcess

from targen_ray.engine import job as job_mod
from targen_ray.engine import plan

pytestmark = pytest.mark.slow  # a multi-node cluster

# The driver: the run, then which nodes the live embedding actors ran on (dead ones are kept in the GCS).
DRIVER = """
import json, sys
import ray
from targen_ray.engine import job, runner

# Steps 1-4 from the driver: what is tested is stage 5's actors on the cluster.
summary = runner.run(job.load(sys.argv[1], sys.argv[2]), sys.argv[3], limit=int(sys.argv[4]), in_driver=True)
nodes = [a["Address"]["NodeID"] for a in ray._private.state.actors().values() if a["ActorClassName"] == "Embedder"]
cpu = [n["NodeID"] for n in ray.nodes() if n["Resources"].get("CPU")]
splits = {s: v["rows"] for s, v in summary["splits"].items()}
print(json.dumps({"complete": summary["complete"], "splits": splits, "embedder_nodes": nodes, "cpu_nodes": cpu}))
"""


@pytest.fixture(scope="module")
def cluster():
    with loopback_cluster(nodes=2, cpus=2) as joined:
        yield joined


def test_embedding_actors_spread_over_nodes_and_the_output_is_exact(cluster, tmp_path):
    fake = FakeProcess(tmp_path)
    try:
        spec = yaml.safe_load(BOOLQ.read_text())
        spec["prompts"] = str((BOOLQ.parent / spec["prompts"]).resolve())
        spec["dedup"] = {**spec.get("dedup", {}), "worker_cpus": 1}  # up to one actor per free CPU
        job = tmp_path / "boolq.yaml"
        job.write_text(yaml.safe_dump(spec))
        endpoints, limit = fake.endpoints(), 300
        _, env = cluster
        done = subprocess.run(
            [sys.executable, "-c", DRIVER, str(job), str(endpoints), str(tmp_path / "run"), str(limit)],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        result = json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        fake.stop()
    assert len(set(result["cpu_nodes"])) == 2
    assert len(set(result["embedder_nodes"])) == 2, result["embedder_nodes"]
    assert result["complete"]
    sizes = plan.split_sizes(job_mod.load(job, endpoints).spec, limit)
    assert result["splits"] == sizes
