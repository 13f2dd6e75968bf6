"""The executor seam: a third way of executing a step is one class over the shared parts (the rows
still to send, the answer policy, the sink), and it writes what the online executor writes."""

from __future__ import annotations

import asyncio

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from conftest import BOOLQ

from targen_ray import job as job_mod
from targen_ray.execute import Stage, executor_for
from targen_ray.execute.base import Executor
from targen_ray.execute.inputs import finish, input_ids, pending
from targen_ray.execute.online import Online, answer
from targen_ray.execute.outcome import output_schema
from targen_ray.pool import Endpoint, Pool
from targen_ray.steps import STEP_CLASSES
from targen_ray.steps.contexts import PER_CALL
from targen_ray.store import RunDir


class InDriver(Executor):
    """Every row answered in the driver's own event loop: no Ray, the same policy and sink."""

    def run(self, inputs: pa.Table):
        stage = self.stage
        todo = pending(stage.run_dir, stage.step, input_ids(inputs))
        rows = inputs.filter(pc.is_in(inputs["id"], todo["id"])).append_column("sample", todo["sample"])
        step = STEP_CLASSES[stage.step](stage.job)
        pool = Pool([Endpoint(name, spec) for name, spec in stage.job.pool(stage.step)])

        async def go():
            try:
                return await asyncio.gather(*(answer(step, row, pool) for row in rows.to_pylist()))
            finally:
                await pool.aclose()

        out = pa.Table.from_pylist(asyncio.run(go()), schema=output_schema(step, rows.schema)).drop_columns(["fatal"])
        failed = pc.is_valid(out["error"])
        self.sink.write(out.filter(pc.invert(failed)), out.filter(failed))
        self.sink.check()
        finish(stage.run_dir, stage.step, stage.round_id)
        return self.sink.result


@pytest.fixture(scope="module")
def job(fake):
    return job_mod.load(BOOLQ, fake.endpoints(writer="openai", judge="openai"))


def _contexts(n: int) -> pa.Table:
    return pa.table({"id": [f"c{i}" for i in range(n)], "n": [PER_CALL] * n})


def test_a_third_executor_is_one_class_over_the_shared_parts(job, tmp_path):
    run_dir = RunDir(tmp_path / "in-driver")
    result = InDriver(Stage(job, "contexts", run_dir, "r0", {})).run(_contexts(6))
    written = run_dir.read(run_dir.stage_dir("contexts"))
    assert result.kept == written.num_rows == 6 and result.requests >= 6
    assert sorted(written["id"].to_pylist()) == [f"c{i}" for i in range(6)]
    # What it wrote is done in the run dir every executor reads (`pending`): a rerun sends nothing.
    assert InDriver(Stage(job, "contexts", run_dir, "r0", {})).run(_contexts(6)).requests == 0
    assert pending(run_dir, "contexts", _contexts(6)["id"]).num_rows == 0


def test_the_step_s_endpoint_picks_its_executor(job, tmp_path):
    assert isinstance(executor_for(Stage(job, "contexts", RunDir(tmp_path / "run"), "r0", {})), Online)
