"""A stage's input rows, whichever way it runs: the rows still to send, read by Ray tasks a row group at
a time, in blocks of a few batches, each with its sample number."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import ray

from ..job import Job
from ..store import RunDir, release_memory, row_groups
from . import intents

# A block (one Ray task) is a few batches, which an online actor answers concurrently. Smaller blocks cost
# throughput (one-batch blocks: 0.57x on full-size ReCoRD stages here, per-task overhead); larger ones
# cost money when an actor dies, since Ray redoes its tasks whole (online.TASKS_PER_ACTOR blocks of
# requests are then paid twice).
BLOCK_BATCHES = 4
READ_TASKS = 2  # Parquet reads of a stage's input at once: each takes far less than its rows' requests


@dataclass(frozen=True)
class Parts:
    """A stage's input that Ray tasks read from Parquet parts, a row group at a time, and shape there
    with `transform`, so that the driver never holds it; `ids` are the ids of the rows it makes."""

    paths: list[str]
    ids: pa.Array | pa.ChunkedArray
    transform: Callable[[pa.Table], pa.Table] | None = None


Inputs = pa.Table | Parts  # a (small) table, or the Parquet parts a stage before wrote


def input_ids(inputs: Inputs) -> pa.Array | pa.ChunkedArray:
    return inputs["id"] if isinstance(inputs, pa.Table) else inputs.ids


def pending(run: RunDir, step: str, ids: pa.ChunkedArray) -> pa.Table:
    """(id, sample) of the rows still to send: not answered yet; sample = how often the row was sent
    again (its rows in retried/: from `targen retry-rejects`, or failed batch lines; 0 for a first sample).
    A row sent again carries its sample number, so that its request seed, and so its answer, differ."""
    done = run.done_ids(step)
    ids = ids.filter(pc.invert(pc.is_in(ids, done))) if len(done) else ids
    retried = pc.value_counts(run.done_ids(step, folders=[run.retried(step)]))
    sample = pc.take(retried.field("counts"), pc.index_in(ids, retried.field("values")))
    return pa.table({"id": ids, "sample": pc.fill_null(sample, 0).cast(pa.int32())})


def dataset(job: Job, inputs: Inputs, todo: pa.Table, run: RunDir) -> ray.data.Dataset:
    """The rows of `todo` (id, sample) from `inputs`, in blocks of a few batches, each with its sample."""
    todo, block_rows = _unless_fresh(inputs, todo), job.spec.batch_size * BLOCK_BATCHES
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
    return _reserving_no_cpu(ds.repartition(target_num_rows_per_block=block_rows))


def _reserving_no_cpu(ds: ray.data.Dataset) -> ray.data.Dataset:
    """`ds` with its last operator's tasks reserving no CPU, as the reads before it reserve none.

    Ray Data's repartition tasks take a whole CPU and its API has no argument to say otherwise. Other
    jobs' step workers may hold every CPU of the cluster for their whole stage while their own reads
    wait for one: four BoolQ jobs on 2 CPUs deadlocked so (issue 29). The one change is to the
    operator's remote arguments, which Ray Data reads when it plans the dataset's execution."""
    ds._logical_plan.dag.ray_remote_args["num_cpus"] = 0
    return ds


def blocks(job: Job, inputs: Inputs, todo: pa.Table, run: RunDir) -> Iterator[pa.Table]:
    """`dataset`'s rows read in the driver, a block at a time: for an executor without Ray Data."""
    todo, block_rows = _unless_fresh(inputs, todo), job.spec.batch_size * BLOCK_BATCHES
    if isinstance(inputs, pa.Table):
        pieces = iter([_with_samples(inputs, todo)])
    else:
        pieces = _read(pa.table({"path": inputs.paths}), run.fs, inputs.transform, todo)
    held: list[pa.Table] = []
    for piece in pieces:
        held.append(piece)
        if sum(t.num_rows for t in held) >= block_rows:
            rows = pa.concat_tables(held)
            whole = rows.num_rows // block_rows * block_rows
            yield from (rows.slice(i, block_rows) for i in range(0, whole, block_rows))
            held = [rows.slice(whole)]
    if held and (rows := pa.concat_tables(held)).num_rows:
        yield rows


def _unless_fresh(inputs: Inputs, todo: pa.Table) -> pa.Table | None:
    """None for a fresh stage, which sends every row as its first sample: then no block needs `todo`."""
    if todo.num_rows == len(input_ids(inputs)) and not pc.any(pc.not_equal(todo["sample"], 0)).as_py():
        return None
    return todo


def finish(run: RunDir, step: str, round_id: str) -> None:
    """Once a stage has answered every row: compact what it wrote, and its intent records."""
    release_memory()
    for where in (run.stage_dir(step), run.rejects(step)):
        run.compact(where, round_id)
    intents.settle(run, step, round_id)


def _read(files: pa.Table, fs, transform, todo: pa.Table | None) -> Iterator[pa.Table]:
    """In a Ray task: the rows still to send from some Parquet files, a row group at a time, so that a
    task holds one row group, not a file."""
    for path in files["path"].to_pylist():
        for group in row_groups(path, fs):
            yield _with_samples(transform(group) if transform else group, todo)


def _with_samples(batch: pa.Table, todo: pa.Table | None) -> pa.Table:
    """Keep the rows still to send, each with its sample number (`todo` None: every row, sample 0)."""
    batch = batch.drop_columns([c for c in ["sample"] if c in batch.column_names])
    if todo is None:
        return batch.append_column("sample", pa.array(np.zeros(batch.num_rows, np.int32)))
    pos = pc.index_in(batch["id"], todo["id"])
    return batch.filter(pc.is_valid(pos)).append_column("sample", todo["sample"].take(pos.drop_null()))
