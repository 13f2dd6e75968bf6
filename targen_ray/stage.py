"""Runs one TarGEN step as a Ray Data map stage over an actor pool, streaming results to the run dir."""

from __future__ import annotations

import asyncio

import pyarrow as pa
import pyarrow.compute as pc
import ray

from .health import ErrorRate
from .job import Job
from .pool import Endpoint, Pool
from .progress import Progress, StageResult
from .steps import STEP_CLASSES
from .store import RunDir


class StepWorker:
    """One Ray actor: the step, its templates and the endpoint clients (or local model) are built once.

    `__call__` is a coroutine, so Ray Data runs several batches at once on the actor's event loop;
    each endpoint bounds this actor's requests in flight, and the cluster-wide limiters pace them.
    """

    def __init__(self, job: Job, step: str, limiters: dict, budget=None):
        self.step = STEP_CLASSES[step](job)
        endpoints = [Endpoint(name, spec, limiters.get(name)) for name, spec in job.pool(step)]
        self.pool = Pool(endpoints, budget)

    async def __call__(self, batch: pa.Table) -> pa.Table:
        rows = batch.to_pylist()
        out = await asyncio.gather(*(self.step.run(r, self.pool) for r in rows))
        return pa.Table.from_pylist(out, schema=self.step.output_schema(batch.schema))


class RunError(Exception):
    """A run stopped for a reason the user must fix (bad key, ...); the message is one line."""


class BudgetStop(RunError):
    """The budget admits no more requests; everything paid for so far is written."""


def run_stage(
    job: Job, step: str, inputs: pa.Table, run: RunDir, tag: str, limiters: dict, budget=None, spent_before=0.0
) -> StageResult:
    """Send every input row through `step`; kept rows go to the stage dir, failures to rejects/.

    Rows answered before (kept or rejected) are not sent again. A row `targen retry-rejects` sends
    again carries its sample number, so that its request seed, and so its answer, differ from before.
    When every row is answered, the stage's parts are compacted.
    """
    result = StageResult()
    done = run.done_ids(step)
    if len(done):
        inputs = inputs.filter(pc.invert(pc.is_in(inputs["id"], done)))
    retried = run.done_ids(step, folders=[f"retried/{step}"])
    if len(retried) and inputs.num_rows:
        counts = pc.value_counts(retried)
        index = pc.index_in(inputs["id"], counts.field("values"))
        sample = pc.fill_null(pc.take(counts.field("counts"), index), 0).cast(pa.int32())
        inputs = inputs.drop_columns([c for c in ["sample"] if c in inputs.column_names]).append_column(
            "sample", sample
        )
    if inputs.num_rows:
        _send(job, step, inputs, run, tag, limiters, budget, spent_before, result)
    for where in (run.stage_dir(step), f"rejects/{step}"):
        run.compact(where, tag)
    return result


def _send(job, step, inputs, run, tag, limiters, budget, spent_before, result) -> None:
    specs = [spec for _, spec in job.pool(step)]
    size = job.spec.batch_size
    blocks = [inputs.slice(i, size) for i in range(0, inputs.num_rows, size)]
    ds = ray.data.from_arrow(blocks).map_batches(
        StepWorker,
        fn_constructor_kwargs={"job": job, "step": step, "limiters": limiters, "budget": budget},
        batch_size=None,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=min(max(s.workers for s in specs), len(blocks))),
        num_cpus=max(s.worker_cpus for s in specs),
        zero_copy_batch=True,
    )
    progress = Progress(f"{step} {tag}", inputs.num_rows, spent_before)
    breaker = ErrorRate(job.spec.stop_error_rate, job.spec.stop_window)
    unadmitted = 0
    for batch in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
        fatal = batch["fatal"]
        stops = pc.filter(batch["error"], pc.equal(fatal, "error")).to_pylist()
        unadmitted += pc.sum(pc.equal(fatal, "budget")).as_py() or 0
        batch = batch.filter(pc.is_null(fatal)).drop_columns(["fatal"])
        failed = pc.is_valid(batch["error"])
        ok, bad = batch.filter(pc.invert(failed)), batch.filter(failed)
        run.write_part(run.stage_dir(step), tag, ok.drop_columns(["error"]))
        run.write_part(f"rejects/{step}", tag, bad)
        result.add(step, ok, bad)
        progress.update(result)
        if stops:  # rows done in this batch are written above; the rest of the stage is abandoned
            raise RunError(stops[0])
        tripped = breaker.add(batch["error"].to_pylist())
        if tripped:
            raise RunError(
                f"step {step} stopped: {tripped}. Everything finished is kept in {run}; fix the cause, then "
                f"rerun the same command to continue, or `targen retry-rejects {run}` to send failed rows again"
            )
    progress.update(result, force=True)
    if unadmitted:
        raise BudgetStop(f"budget_usd {job.spec.budget_usd} reached: {unadmitted} rows of step {step} not sent")
