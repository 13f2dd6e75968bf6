"""Runs one TarGEN step as a Ray Data map stage over an actor pool, streaming results to the run dir."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import ray

from .errors import BudgetStop, RunError
from .job import Job
from .pool import Endpoint, Pool
from .progress import Progress, StageResult
from .sink import Sink
from .steps import STEP_CLASSES
from .store import RunDir, release_memory, row_groups


class StepWorker:
    """One Ray actor: the step, its templates and the endpoint clients (or local model) are built once.

    `__call__` is a coroutine, so Ray Data runs several batches at once on the actor's event loop;
    each endpoint bounds this actor's requests in flight, and the cluster-wide limiters pace them.
    """

    def __init__(self, job: Job, step: str, limiters: dict, budget=None):
        self.step = STEP_CLASSES[step](job)
        endpoints = [Endpoint(name, spec, limiters.get(name)) for name, spec in job.pool(step)]
        self.pool = Pool(endpoints, budget, labels=(job.spec.name, step))

    async def __call__(self, batch: pa.Table) -> pa.Table:
        rows = batch.to_pylist()
        out = await asyncio.gather(*(self.step.run(r, self.pool) for r in rows))
        return pa.Table.from_pylist(out, schema=self.step.output_schema(batch.schema))


# A block (one Ray task) is a few batches, which the actor answers concurrently. Smaller blocks cost
# throughput (one-batch blocks: 0.57x on full-size ReCoRD stages here, per-task overhead); larger ones
# cost money when an actor dies, since Ray redoes its tasks whole: up to TASKS_PER_ACTOR blocks of
# requests are then paid twice.
BLOCK_BATCHES = 4
TASKS_PER_ACTOR = 2
READ_TASKS = 2  # Parquet reads of a stage's input at once: each takes far less than its rows' requests


@dataclass(frozen=True)
class Parts:
    """A stage's input that Ray tasks read from Parquet parts, a row group at a time, and shape there
    with `transform`, so that the driver never holds it; `ids` are the ids of the rows it makes."""

    paths: list[str]
    ids: pa.Array | pa.ChunkedArray
    transform: Callable[[pa.Table], pa.Table] | None = None


def run_stage(
    job: Job,
    step: str,
    inputs: pa.Table | Parts,
    run: RunDir,
    tag: str,
    limiters: dict,
    budget=None,
    spent_before=0.0,
    on_kept: Callable[[pa.Table], None] | None = None,
) -> StageResult:
    """Send every input row through `step`; kept rows go to the stage dir, failures to rejects/.

    `inputs` is a (small) table, or the Parquet parts a stage before wrote. Rows answered before (kept
    or rejected) are not sent again. A row `targen retry-rejects` sends again carries its sample number,
    so that its request seed, and so its answer, differ from before. When every row is answered, the
    parts are compacted. `on_kept` sees each batch of kept rows once it is written.
    """
    sink = Sink(job, step, run, tag, on_kept)
    todo = pending(run, step, input_ids(inputs))
    if todo.num_rows:
        send(job, step, dataset(job, inputs, todo, run), todo.num_rows, limiters, budget, spent_before, sink)
    finish(run, step, tag)
    return sink.result


def input_ids(inputs: pa.Table | Parts) -> pa.Array | pa.ChunkedArray:
    return inputs["id"] if isinstance(inputs, pa.Table) else inputs.ids


def dataset(job: Job, inputs: pa.Table | Parts, todo: pa.Table, run: RunDir) -> ray.data.Dataset:
    """The rows of `todo` (id, sample) from `inputs`, in blocks of a few batches, each with its sample."""
    # A fresh stage sends every row as its first sample: then no block needs the todo table.
    if todo.num_rows == len(input_ids(inputs)) and not pc.any(pc.not_equal(todo["sample"], 0)).as_py():
        todo = None
    block_rows = job.spec.batch_size * BLOCK_BATCHES
    if isinstance(inputs, pa.Table):
        inputs = _with_samples(inputs, todo)  # in the driver, once
        return ray.data.from_arrow([inputs.slice(i, block_rows) for i in range(0, inputs.num_rows, block_rows)])
    ds = ray.data.from_items([{"path": p} for p in inputs.paths], override_num_blocks=len(inputs.paths))
    kwargs = {"fs": run.fs, "transform": inputs.transform, "todo": todo}
    # Reads are I/O: they reserve no CPU, so CPUs other work holds during the stage (stage 5's live
    # embedding, say) never leave them unscheduled; READ_TASKS bounds how many run at once.
    read = ray.data.TaskPoolStrategy(size=READ_TASKS)
    ds = ds.map_batches(_read, fn_kwargs=kwargs, batch_size=None, batch_format="pyarrow", num_cpus=0, compute=read)
    # Streamed, not all-to-all: blocks leave the read tasks as row groups are read.
    return ds.repartition(target_num_rows_per_block=block_rows)


def finish(run: RunDir, step: str, tag: str) -> None:
    """Once a stage has answered every row: compact what it wrote."""
    release_memory()
    for where in (run.stage_dir(step), run.rejects(step)):
        run.compact(where, tag)


def _read(files: pa.Table, fs, transform, todo: pa.Table | None) -> Iterator[pa.Table]:
    """In a Ray task: the rows still to send from some Parquet files, a row group at a time, so that a
    task holds one row group, not a file."""
    for path in files["path"].to_pylist():
        for group in row_groups(path, fs):
            yield _with_samples(transform(group) if transform else group, todo)


def pending(run: RunDir, step: str, ids: pa.ChunkedArray) -> pa.Table:
    """(id, sample) of the rows still to send: not answered yet; sample = how often the row was sent
    again (its rows in retried/: from `targen retry-rejects`, or failed batch lines; 0 for a first sample)."""
    done = run.done_ids(step)
    ids = ids.filter(pc.invert(pc.is_in(ids, done))) if len(done) else ids
    retried = pc.value_counts(run.done_ids(step, folders=[run.retried(step)]))
    sample = pc.take(retried.field("counts"), pc.index_in(ids, retried.field("values")))
    return pa.table({"id": ids, "sample": pc.fill_null(sample, 0).cast(pa.int32())})


def _with_samples(batch: pa.Table, todo: pa.Table | None) -> pa.Table:
    """Keep the rows still to send, each with its sample number (`todo` None: every row, sample 0)."""
    batch = batch.drop_columns([c for c in ["sample"] if c in batch.column_names])
    if todo is None:
        return batch.append_column("sample", pa.array(np.zeros(batch.num_rows, np.int32)))
    pos = pc.index_in(batch["id"], todo["id"])
    return batch.filter(pc.is_valid(pos)).append_column("sample", todo["sample"].take(pos.drop_null()))


def send(job, step, ds, rows, limiters, budget, spent_before, sink: Sink) -> None:
    """The rows of `ds` through the step's worker actors, each batch of answers into `sink`."""
    specs = [spec for _, spec in job.pool(step)]
    batches = -(-rows // job.spec.batch_size)
    ds = ds.map_batches(
        StepWorker,
        fn_constructor_kwargs={"job": job, "step": step, "limiters": limiters, "budget": budget},
        batch_size=job.spec.batch_size,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(
            size=min(max(s.workers for s in specs), batches), max_tasks_in_flight_per_actor=TASKS_PER_ACTOR
        ),
        num_cpus=max(s.worker_cpus for s in specs),
        zero_copy_batch=True,
    )
    progress = Progress(f"{step} {sink.tag}", rows, spent_before)
    unadmitted = 0
    for batch in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
        fatal = batch["fatal"]
        stops = pc.filter(batch["error"], pc.equal(fatal, "error")).to_pylist()
        unadmitted += pc.sum(pc.equal(fatal, "budget")).as_py() or 0
        batch = batch.filter(pc.is_null(fatal)).drop_columns(["fatal"])
        failed = pc.is_valid(batch["error"])
        ok, bad = batch.filter(pc.invert(failed)), batch.filter(failed)
        sink.write(ok, bad)
        progress.update(sink.result)
        if stops:  # rows done in this batch are written above; the rest of the stage is abandoned
            raise RunError(stops[0])
        sink.check()
    progress.update(sink.result, force=True)
    if unadmitted:
        raise BudgetStop(f"budget_usd {job.spec.budget_usd} reached: {unadmitted} rows of step {step} not sent")
