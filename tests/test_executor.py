"""The executor seam: the in-driver executor is one class over the shared parts (the rows still to
send, the answer policy, the sink), and it writes what the online executor writes."""

from __future__ import annotations

import threading

import pyarrow as pa
import pytest
import ray
from conftest import BOOLQ

from targen_ray.engine import job as job_mod
from targen_ray.engine.execute import Stage, executor_for
from targen_ray.engine.execute.driver import InDriver
from targen_ray.engine.execute.inputs import Parts, dataset, pending
from targen_ray.engine.execute.online import Online
from targen_ray.engine.steps.contexts import PER_CALL
from targen_ray.engine.store import RunDir


@pytest.fixture(scope="module")
def job(fake):
    return job_mod.load(BOOLQ, fake.endpoints(writer="openai", judge="openai"))


def _contexts(n: int) -> pa.Table:
    return pa.table({"id": [f"c{i}" for i in range(n)], "n": [PER_CALL] * n})


def test_the_in_driver_executor_writes_what_every_executor_reads(job, tmp_path):
    run_dir = RunDir(tmp_path / "in-driver")
    result = InDriver(Stage(job, "contexts", run_dir, "r0", {})).run(_contexts(6))
    written = run_dir.read(run_dir.stage_dir("contexts"))
    assert result.kept == written.num_rows == 6 and result.requests >= 6
    assert sorted(written["id"].to_pylist()) == [f"c{i}" for i in range(6)]
    # What it wrote is done in the run dir every executor reads (`pending`): a rerun sends nothing.
    assert InDriver(Stage(job, "contexts", run_dir, "r0", {})).run(_contexts(6)).requests == 0
    assert pending(run_dir, "contexts", _contexts(6)["id"]).num_rows == 0


def test_the_step_s_endpoint_and_the_run_pick_its_executor(job, tmp_path):
    assert isinstance(executor_for(Stage(job, "contexts", RunDir(tmp_path / "run"), "r0", {})), Online)
    stage = Stage(job, "contexts", RunDir(tmp_path / "run"), "r0", {}, in_driver=True)
    assert isinstance(executor_for(stage), InDriver)
    # A stage whose rows all fit in what one worker has in flight goes from the driver: an actor pool's
    # start would cost more than their one round trip.
    one_worker = job.endpoints["writer"].max_concurrency  # step 1's one endpoint
    stage = Stage(job, "contexts", RunDir(tmp_path / "run"), "r0", {})
    assert isinstance(executor_for(stage, rows=one_worker), InDriver)
    assert isinstance(executor_for(stage, rows=one_worker + 1), Online)


def test_a_stage_s_input_is_read_while_other_jobs_hold_every_cpu(job, ray_session, tmp_path):
    """Another job's step workers on this cluster may hold every CPU for their whole stage. Reading and
    re-blocking a stage's input must not need one, or every job waits on every other (issue 29)."""
    run_dir = RunDir(tmp_path / "run")
    where = run_dir.stage_dir("generate")
    for p in range(3):
        run_dir.write_part(where, "r0", pa.table({"id": [f"p{p}-{i}" for i in range(50)], "n": [1] * 50}))
    parts = Parts(run_dir.parts(where, "r0"), pa.chunked_array([f"p{p}-{i}" for p in range(3) for i in range(50)]))
    holders = [_Holder.remote() for _ in range(int(ray.cluster_resources()["CPU"]))]
    ray.get([h.ready.remote() for h in holders])
    ds = dataset(job, parts, pending(run_dir, "correct", parts.ids), run_dir)
    read: list[int] = []
    blocks = ds.iter_batches(batch_size=None, batch_format="pyarrow")
    reader = threading.Thread(target=lambda: read.extend(b.num_rows for b in blocks))
    reader.start()
    reader.join(timeout=60)  # a bound on a hang, not a wait on work: the read takes a few seconds
    hung = reader.is_alive()
    for h in holders:  # lets a hung read end
        ray.kill(h)
    reader.join()
    assert not hung and sum(read) == 150


@ray.remote(num_cpus=1)
class _Holder:
    def ready(self) -> bool:
        return True
