"""A step online: its rows through a Ray Data actor pool, each actor calling the step's endpoint pool,
the answers streamed to the run dir as they come."""

from __future__ import annotations

import asyncio

import pyarrow as pa
import ray

from ...errors import BudgetExhausted, FatalError, ProviderError
from ..job import Job
from ..pool import Endpoint, Pool, Usage
from ..progress import StageResult
from ..providers import Request
from ..steps import Step, step_for
from .base import Executor
from .inputs import Inputs, dataset, finish, input_ids, pending
from .intents import Intents, intents_of
from .outcome import outcome_row, output_schema, verdict_on

# Blocks an actor holds at once (inputs.BLOCK_BATCHES batches each): what Ray redoes, and pays for twice,
# when the actor dies.
TASKS_PER_ACTOR = 2


class Online(Executor):
    def run(self, inputs: Inputs) -> StageResult:
        stage = self.stage
        todo = pending(stage.run_dir, stage.step, input_ids(inputs))
        if todo.num_rows:
            self.send(dataset(stage.job, inputs, todo, stage.run_dir), todo.num_rows)
        finish(stage.run_dir, stage.step, stage.round_id)
        return self.sink.result

    def send(self, ds: ray.data.Dataset, rows: int) -> None:
        """The rows of `ds` through the step's worker actors, each batch of answers into the sink."""
        job, step, stage = self.stage.job, self.stage.step, self.stage
        specs = [spec for _, spec in job.pool(step)]
        batches = -(-rows // job.spec.batch_size)
        ds = ds.map_batches(
            StepWorker,
            fn_constructor_kwargs={"job": job, "step": step, "limiters": stage.limiters, "budget": stage.budget}
            | {"intents": intents_of(stage)},
            batch_size=job.spec.batch_size,
            batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(
                size=min(max(s.workers for s in specs), batches), max_tasks_in_flight_per_actor=TASKS_PER_ACTOR
            ),
            num_cpus=max(s.worker_cpus for s in specs),
            zero_copy_batch=True,
        )
        self.take(ds.iter_batches(batch_size=None, batch_format="pyarrow"), rows)


class StepWorker:
    """One Ray actor: the step, its templates and the endpoint clients (or local model) are built once.

    `__call__` is a coroutine, so Ray Data runs several batches at once on the actor's event loop;
    each endpoint bounds this actor's requests in flight, and the cluster-wide limiters pace them.
    """

    def __init__(self, job: Job, step: str, limiters: dict, budget=None, intents: Intents | None = None):
        self.step, self.intents, self.batch_size = step_for(job, step), intents, job.spec.batch_size
        endpoints = [Endpoint(name, spec, limiters.get(name)) for name, spec in job.pool(step)]
        self.pool = Pool(endpoints, budget, labels=(job.spec.name, self.step.name))
        self.admission = Admission(lambda: sum(int(e.concurrency.limit) for e in endpoints))

    async def __call__(self, batch: pa.Table) -> pa.Table:
        """Rows answered, a batch of the job's `batch_size` at a time (a block, in the driver, is several)."""
        rows, size = batch.to_pylist(), self.batch_size
        out = await asyncio.gather(*(self._send(rows[i : i + size]) for i in range(0, len(rows), size)))
        return pa.Table.from_pylist([r for part in out for r in part], schema=output_schema(self.step, batch.schema))

    async def _send(self, rows: list[dict]) -> list[dict]:
        """One batch, once this worker has room for it: its requests counted as sent (an intent record)
        before any goes, each row tagged with the record."""
        await self.admission.enter(len(rows))
        first = [self.step.request(r, 0) for r in rows]
        try:
            intent = await self.intents.record(rows, first) if self.intents is not None else None
        except BaseException:
            await self.admission.leave(len(rows))
            raise

        async def one(row: dict, request: Request) -> dict:
            try:
                return {**await send_row(self.step, row, self.pool, request), f"{self.step.name}_intent": intent}
            finally:
                await self.admission.leave(1)

        return await asyncio.gather(*(one(r, q) for r, q in zip(rows, first, strict=True)))


class Admission:
    """The rows a worker is answering, kept near what its endpoints may have in flight: a batch comes in
    once fewer rows than that are in progress. So its intent records cover at most one batch more than
    can be on the wire (what a dead worker's records count as sent that was not), and a slot freed as a
    batch comes in waits only while the batch's record is written; rows past the slots wait as before."""

    def __init__(self, capacity):
        self.capacity, self.rows = capacity, 0
        self._changed = asyncio.Condition()

    async def enter(self, n: int) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self.rows < self.capacity())
            self.rows += n

    async def leave(self, n: int) -> None:
        async with self._changed:
            self.rows -= n
            self._changed.notify_all()


async def send_row(step: Step, row: dict, pool: Pool, first: Request | None = None) -> dict:
    """One row through the pool: its answer tries, each judged, until one is usable or they are spent.
    `first`: its first try's request, when the caller rendered it already."""
    usage, raw, reason, endpoint, room = Usage(), "", "", None, 1
    for attempt in range(step.spec.parse_retries + 1):
        try:
            request = first if attempt == 0 and first is not None else step.request(row, attempt, room)
            response, endpoint = await pool.call(request, usage)
        except BudgetExhausted:
            return outcome_row(step, row, None, usage, None, "", "budget exhausted", fatal="budget")
        except FatalError as e:  # no request can succeed: the stage stops on this row
            return outcome_row(step, row, None, usage, None, "", str(e), fatal="error")
        except ProviderError as e:
            reason = f"provider error: {e} (after {int(usage.total('requests'))} attempts)"
            break
        raw = response.text
        verdict = verdict_on(step, response, row, attempt, room)
        if verdict.fields is not None:
            return outcome_row(step, row, verdict.fields, usage, endpoint, raw, None)
        reason, room = verdict.reason, verdict.room
        if not verdict.again:
            break
    return outcome_row(step, row, None, usage, endpoint, raw, reason)
