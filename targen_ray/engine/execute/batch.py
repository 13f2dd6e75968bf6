"""A step on a batch endpoint: its rows go to the provider's Batch API, many requests per batch.

Ray tasks render the rows into request lines (the prompts and request seeds an online call would send);
the driver gathers them into batches of at most the provider's requests and bytes and submits them.
Each batch is recorded in the run directory (`RunDir.batch_records`: a JSON record beside its rows, its
intent record: intents.py writes none for it) before it is created, and gets its id the moment it exists,
so a driver killed while batches are in flight picks them up when run again: nothing is submitted, paid
for twice or lost unanswered (a create whose answer was lost is looked up by its label, on OpenAI). Open
batches are polled at a growing interval; an ended batch's results are joined to its rows by custom_id
in a Ray task and checked like online answers.

A row whose line expired, was cancelled or errored, or whose answer failed the step's checks, goes to
retried/ with what it cost and is sent again as its next sample: in a new batch, or online
(`batch.retry: online`). Once its tries are spent, or at once for a failed line under `retry: reject`,
it is rejected with the reason.
"""

from __future__ import annotations

import time

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import ray

from ...config import step_of
from ...config.kinds import KINDS, load
from ...errors import BudgetStop, RunError
from ..ids import stable_id
from ..job import Job
from ..pool import Endpoint, Usage
from ..progress import StageResult, say, spend
from ..providers.base import estimate_tokens
from ..providers.batch import BatchClient, BatchStatus, Line, build_batch_client, call_api
from ..steps import step_for
from ..store.batch_records import BatchRecords
from .base import Executor
from .inputs import Inputs, dataset, finish, input_ids, pending
from .online import Online
from .outcome import outcome_row, output_schema, verdict_on
from .stage import Stage

RESULT_TASKS = 2  # ended batches joined at once: each task holds a whole batch's results
RESULT_ROWS = 2_000  # rows a result task holds as Python objects at once


class Batch(Executor):
    def __init__(self, stage: Stage):
        super().__init__(stage)
        self.job, self.step, self.run_dir, self.budget = stage.job, stage.step, stage.run_dir, stage.budget
        self.name, self.spec = self.job.batch_endpoint(self.step)
        self.client: BatchClient = build_batch_client(self.name, self.spec)
        self.batches = BatchRecords(self.run_dir, self.step, stage.round_id)
        self.spent_before = stage.spent_before
        self.stopped: str | None = None  # why no more batches are submitted (the budget)
        self.poll_s = self.spec.batch.poll_s
        self.records = self.batches.records  # by rows file
        self._load()
        if self.budget is not None:  # what batches of an earlier run may yet cost is held against the budget
            held = sum(self.records[p]["est_usd"] for p in self.batches.open())
            ray.get(self.budget.sync.remote(self.spent_before, held))

    def run(self, inputs: Inputs) -> StageResult:
        """Every input row answered, kept or rejected: rows not in a batch yet are submitted, open batches
        polled and collected, rows to send again sent (in new batches, or online), until none is left."""
        ids = input_ids(inputs)
        while True:
            todo = pending(self.run_dir, self.step, ids)
            todo = todo.filter(pc.invert(pc.is_in(todo["id"], self.batches.in_flight())))
            if todo.num_rows and self.stopped is None:
                again = pc.greater(todo["sample"], 0)
                if self.spec.batch.retry == "online" and pc.any(again).as_py():
                    online = todo.filter(again)
                    Online(self.stage, self.sink).send(dataset(self.job, inputs, online, self.run_dir), online.num_rows)
                    todo = todo.filter(pc.invert(again))
                if todo.num_rows:
                    self.submit(dataset(self.job, inputs, todo, self.run_dir))
            if not self.batches.open():
                break
            self.wait()
        finish(self.run_dir, self.step, self.stage.round_id)
        if self.stopped:
            raise BudgetStop(self.stopped)
        return self.sink.result

    # -- the run directory's record of batches ---------------------------------------------------------
    def _load(self) -> None:
        """Read the records of this stage's batches. A record without a batch id is a create whose answer
        was lost (the driver died, the connection dropped): the provider is asked for a batch with its label
        (OpenAI can tell); when there is none, the record and its rows file go, and the rows are sent again."""
        for path, record in self.batches.stored():
            if record is not None and record["batch_id"] is None:
                found = call_api(self.name, lambda r=record: self.client.find(r["label"], r["submitted_at"]))
                record = {**record, "batch_id": found, "status": "submitted"} if found else None
                if found:
                    self.batches.save(path, record)
            if record is None:
                self.batches.drop(path)
            else:
                self.records[path] = record
        flying = len(self.batches.open())
        if flying:
            say(self._label(), f"picking up {flying} batches in flight")

    # -- submitting ------------------------------------------------------------------------------------
    def submit(self, ds: ray.data.Dataset) -> None:
        """Render the rows in Ray tasks, then submit them in batches as large as the provider allows."""
        kwargs = {"job": self.job, "step": self.step}
        ds = ds.map_batches(_render, fn_kwargs=kwargs, batch_size=None, batch_format="pyarrow")
        held, rows, size = [], 0, 0
        for block in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
            sizes = pc.add(pc.binary_length(block["line"]), 1).to_numpy()
            start = 0
            for i, n in enumerate(sizes):
                if rows and (rows + 1 > self.client.max_requests or size + n > self.client.max_bytes):
                    held.append(block.slice(start, i - start))
                    if not self._create(pa.concat_tables(held)):
                        return
                    held, rows, size, start = [], 0, 0, i
                rows, size = rows + 1, size + int(n)
            held.append(block.slice(start))
        if rows:
            self._create(pa.concat_tables(held))

    def _create(self, table: pa.Table) -> bool:
        """Submit one batch and record it at once. False once the budget admits no more."""
        est = round(float(pc.sum(table["est_usd"]).as_py()), 6)
        if self.budget is not None and not ray.get(self.budget.reserve.remote(est)):
            self.stopped = f"budget_usd {self.job.spec.budget_usd} reached: batches of step {self.step} not submitted"
            return False
        path, number = self.batches.write_rows(table.drop_columns(["line", "est_usd"]))
        # The record is written before the create and gets the batch id the moment it exists. The label, unique
        # to this run directory, lets a later run find a batch whose create answer never arrived.
        run_key = stable_id(self.job.spec.name, self.run_dir.uri)[:8]
        record = {
            "label": f"targen-{self.job.spec.name}-{run_key}-{self.step}-{self.stage.round_id}-{number:05d}",
            "batch_id": None,
            "endpoint": self.name,
            "provider": self.spec.provider,
            "model": self.spec.model,
            "requests": table.num_rows,
            "est_usd": est,
            "submitted_at": time.time(),
            "status": "submitting",
            "succeeded": 0,
            "errored": 0,
            "collected": False,
        }
        self.batches.save(path, record)
        batch_id = call_api(self.name, lambda: self.client.submit(table["line"], record["label"]), create=True)
        self.batches.save(path, {**record, "batch_id": batch_id, "status": "submitted"})
        self.poll_s = self.spec.batch.poll_s
        self._progress()
        return True

    # -- waiting and collecting ------------------------------------------------------------------------
    def wait(self) -> None:
        """Poll the open batches, at a growing interval, until some have ended; collect those."""
        while True:
            ended = []
            for path in self.batches.open():
                record = self.records[path]
                status: BatchStatus = call_api(self.name, lambda r=record: self.client.status(r["batch_id"]))
                record.update(status=status.state, succeeded=status.succeeded, errored=status.errored)
                if status.ended:
                    ended.append(path)
            self._progress()
            if ended:
                self._collect(ended)
                return
            time.sleep(self.poll_s)
            self.poll_s = min(self.poll_s * 1.5, self.spec.batch.poll_max_s)

    def _collect(self, paths: list[str]) -> None:
        """Join each ended batch's results to its rows (Ray tasks), then write them out; rows a run before
        already wrote (it died after writing, before recording the batch collected) are not written twice."""
        queue, running = list(paths), {}
        while queue or running:
            while queue and len(running) < RESULT_TASKS:
                r = self.records[queue[0]]
                ref = _results.remote(self.job, self.step, queue[0], self.run_dir.fs, r["batch_id"], r["status"])
                running[ref] = queue.pop(0)
            [ref], _ = ray.wait(list(running))
            path = running.pop(ref)
            try:
                kept, rejected, retried = ray.get(ref)
            except ray.exceptions.RayTaskError as e:
                if isinstance(e.cause, RunError):
                    raise RunError(str(e.cause)) from None
                raise
            ids = pa.chunked_array([t["id"] for t in (kept, rejected, retried)], pa.string())
            todo = pending(self.run_dir, self.step, ids)
            kept, rejected, retried = (_unwritten(t, todo) for t in (kept, rejected, retried))
            self.sink.write(kept, rejected, retried)
            if self.budget is not None:  # the batch's reservation becomes what it cost
                cost = sum(pc.sum(t[f"{step_of(self.step)}_usd"]).as_py() or 0.0 for t in (kept, rejected, retried))
                self.budget.reserve.remote(0.0, (self.records[path]["est_usd"], cost))
            self.batches.save(path, {**self.records[path], "collected": True})
            self.sink.check()
        self._progress()

    # -- progress --------------------------------------------------------------------------------------
    def _label(self) -> str:
        return f"{self.step} {self.stage.round_id} batch"

    def _progress(self) -> None:
        records = list(self.records.values())
        done = sum(r["collected"] for r in records)
        r = self.sink.result
        say(
            self._label(),
            f"batches: {len(records)} submitted, {len(records) - done} in progress, {done} completed"
            f" | lines: {sum(x['succeeded'] for x in records):,} succeeded, {sum(x['errored'] for x in records):,} "
            f"errored | rows: {r.kept:,} kept, {r.rejected:,} rejected, {r.retried:,} to send again"
            f" | {spend(r, self.spent_before)}",
        )


def _render(block: pa.Table, job: Job, step: str) -> pa.Table:
    """In a Ray task: each row's request as a line of the endpoint's batch format, its custom_id (row id
    and sample: unique per try) and its estimated cost at the batch price."""
    name, spec = job.batch_endpoint(step)
    worker, line = step_for(job, step), load(KINDS[spec.provider].batch).line
    custom_ids, lines, usd = [], [], []
    for row in block.to_pylist():
        request = worker.request(row, 0)  # a batch line's try is its sample: the seed differs per try
        custom_ids.append(f"{row['id']}-{row['sample']}")
        lines.append(line(spec.model, custom_ids[-1], request, spec.structured))  # resolved by probe.resolve
        usd.append(spec.batch_price.usd(estimate_tokens(request.system + request.prompt), request.max_tokens))
    return (
        block.append_column("custom_id", pa.array(custom_ids))
        .append_column("line", pa.array(lines))
        .append_column("est_usd", pa.array(usd, pa.float64()))
    )


@ray.remote(num_cpus=0.25)
def _results(job: Job, step: str, path: str, fs, batch_id: str, state: str) -> tuple[pa.Table, pa.Table, pa.Table]:
    """In a Ray task: an ended batch's results joined to its rows by custom_id, as (kept, rejected,
    retried) rows with the step's fields and what each line cost at the batch price."""
    name, spec = job.batch_endpoint(step)
    client = build_batch_client(name, spec)
    lines = {line.custom_id: line for line in call_api(name, lambda: list(client.results(batch_id)))}
    worker, endpoint, retry = step_for(job, step), Endpoint(name, spec), spec.batch.retry
    rows = pq.ParquetFile(path, filesystem=fs)
    schema = output_schema(worker, pa.schema([f for f in rows.schema_arrow if f.name != "custom_id"]))
    out: dict[str, list[pa.Table]] = {"kept": [], "rejected": [], "retried": []}
    for chunk in rows.iter_batches(RESULT_ROWS):  # a slice of rows as Python objects at a time, not the batch
        made: dict[str, list] = {k: [] for k in out}
        for row in chunk.to_pylist():
            line = lines.get(row.pop("custom_id")) or Line("", error=f"errored: no result (batch {state})")
            usage, raw = Usage(), ""
            if line.response is None:
                usage.add(endpoint, None, "error", batch=True)
                reason = f"batch line {line.error}"
                again = retry == "online" or (retry == "batch" and row["sample"] + 1 < spec.batch.attempts)
            else:
                usage.add(endpoint, line.response, "ok", batch=True)
                raw = line.response.text
                verdict = verdict_on(worker, line.response, row, attempt=row["sample"])
                if verdict.fields is not None:
                    made["kept"].append(outcome_row(worker, row, verdict.fields, usage, endpoint, raw, None))
                    continue
                reason, again = verdict.reason, retry == "online" or verdict.again
            made["retried" if again else "rejected"].append(
                outcome_row(worker, row, None, usage, endpoint, raw, reason)
            )
        for k, made_rows in made.items():
            out[k].append(pa.Table.from_pylist(made_rows, schema=schema))
    return tuple(pa.concat_tables(out[k]).drop_columns(["fatal"]) for k in out)


def _unwritten(table: pa.Table, todo: pa.Table) -> pa.Table:
    """The rows of `table` still to write: their id is pending at the very sample they were sent as."""
    pos = pc.index_in(table["id"], todo["id"])
    same = pc.equal(pc.take(todo["sample"], pos), table["sample"])
    return table.filter(pc.fill_null(same, False))


__all__ = ["Batch"]
