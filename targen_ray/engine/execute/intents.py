"""Intent records: requests counted as sent before they go, so that what a lost worker sent is in the ledger.

The ledger counts a row's requests from the row its worker answered (every attempt, at its real usage).
A worker that dies (its node lost, the driver killed) writes no row, yet the provider was paid for what
it had in flight; Ray Data then sends those rows again from another worker. So a worker about to send a
batch of rows first writes one intent record for the batch (a Parquet file: each row's id, the batch's
intent id, the estimated tokens and USD of its first request) and tags the rows it answers with the
intent id. A written row with that tag settles its row of the record; a row of a record that nothing
settles was sent and never answered: `unanswered`, priced at its estimate (the prompt's estimated tokens
and max_tokens of output: what the budget reserves for a request), at the dearest endpoint of the pool.

One record per batch (the job's batch_size), written before the batch's first request and off the
event loop (a local file renamed into place, or one object PUT), never one write per request. The price
of that: of the batches a worker was sending when it died, every row counts as one request sent, though
rows still waiting for a slot were not (a worker lets a batch in only once fewer rows than its slots are
in progress, online.Admission: so under one batch per worker; 64 counted where the fake logged 51 with
a worker actor killed), and retries in flight are not counted. Rows the driver took back
unsent (no budget left, or a fatal error) are voided by a record of their own. A stage's end replaces
its round's records by one holding only what was never answered (and a crash half-way leaves
duplicates that reading removes), so a long run keeps few files.

Batch executors write none: a provider batch's record (batch.py) is written before the batch is created
and the batch is collected, by a later run if need be, so its requests are never lost unanswered.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ...config import EndpointSpec, step_of
from ..providers import Request
from ..providers.base import estimate_tokens
from ..store import RunDir
from .stage import Stage

SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("intent", pa.string()),
        ("void", pa.bool_()),  # the driver took the row back unsent: no request to count
        ("endpoint", pa.string()),
        ("input_tokens", pa.int64()),
        ("output_tokens", pa.int64()),
        ("usd", pa.float64()),
    ]
)
ESTIMATES = ("input_tokens", "output_tokens", "usd")


@dataclass(frozen=True)
class Intents:
    """A stage's intent records as a worker writes them: handed to each worker with its constructor."""

    run: RunDir
    stage: str
    round_id: str
    pool: tuple[tuple[str, EndpointSpec], ...]  # the stage's endpoints, to price the estimates

    async def record(self, rows: list[dict], requests: list[Request]) -> str:
        """Write the record of a batch about to be sent (its rows and their first requests); its intent id."""
        intent = uuid.uuid4().hex
        est_in = [estimate_tokens(r.system + r.prompt) for r in requests]
        est_out = [r.max_tokens for r in requests]
        name, dearest = max(self.pool, key=lambda e: e[1].price.usd(sum(est_in), sum(est_out)))
        usd = [dearest.price.usd(i, o) for i, o in zip(est_in, est_out, strict=True)]
        table = _table([r["id"] for r in rows], [intent] * len(rows), False, name, est_in, est_out, usd)
        await asyncio.to_thread(self.run.write_table, self.run.intents(self.stage, self.round_id, intent), table)
        return intent


def intents_of(stage: Stage) -> Intents:
    """What a stage's workers write their intent records with."""
    return Intents(stage.run_dir, stage.step, stage.round_id, tuple(stage.job.pool(stage.step)))


def void(stage: Stage, rows: pa.Table) -> None:
    """Rows returned to the driver without an answer to write (the budget admitted none of their
    requests, or a fatal error stopped the stage): not sent, as far as the ledger is concerned."""
    key = f"{step_of(stage.step)}_intent"
    rows = rows.filter(pc.is_valid(rows[key]))
    if rows.num_rows:
        zero = [0] * rows.num_rows
        table = _table(rows["id"], rows[key], True, None, zero, zero, zero)
        stage.run_dir.write_table(stage.run_dir.intents(stage.step, stage.round_id, uuid.uuid4().hex), table)


def settle(run: RunDir, stage: str, round_id: str) -> None:
    """At a stage's end: its round's records as one file of the rows nothing settled (often none)."""
    files = [p for p in run.files(run.intents(stage)) if _round(p) == round_id]
    if not files:
        return
    left = _open(run, stage, files)
    if left.num_rows:
        run.write_table(run.intents(stage, round_id, uuid.uuid4().hex), left)
    run.delete(files)


def _table(ids, intents, void: bool, endpoint: str | None, est_in, est_out, usd) -> pa.Table:
    n = len(ids)
    columns = [ids, intents, [void] * n, [endpoint] * n, est_in, est_out, usd]
    return pa.table(dict(zip(SCHEMA.names, columns, strict=True)), schema=SCHEMA)


def _round(path: str) -> str:
    return path.rsplit("/", 1)[-1].split("-", 1)[0]


def _open(run: RunDir, stage: str, files: list[str]) -> pa.Table:
    """The rows of these records that no written row settles and no void record takes back."""
    read = [pq.read_table(p, filesystem=run.fs, schema=SCHEMA) for p in files]
    records = (
        pa.concat_tables(read)
        .group_by(["intent", "id"])
        .aggregate([("void", "max"), *[(k, "max") for k in ESTIMATES], ("endpoint", "max")])
    )  # a row once per intent: duplicates a crash left behind count once
    records = records.rename_columns([c.removesuffix("_max") for c in records.column_names])
    key = f"{step_of(stage)}_intent"
    answered = [
        t.rename_columns(["id", "intent"])
        for folder in run.paid(stage)
        for t in run.iter_parts(folder, columns=["id", key])
        if key in t.column_names  # rows written before intent records existed have no tag
    ]
    records = records.filter(pc.invert(records["void"]))
    if answered:
        records = records.join(pa.concat_tables(answered), ["intent", "id"], join_type="left anti")
    return records.select(SCHEMA.names).cast(SCHEMA)


def unanswered(run: RunDir, stage: str) -> dict[str, dict]:
    """Per endpoint, the requests a stage sent that were never answered, with their estimated tokens and USD."""
    files = run.files(run.intents(stage))
    if not files:
        return {}
    left = _open(run, stage, files)
    out: dict[str, dict] = {}
    for row in left.group_by("endpoint").aggregate([("id", "count"), *[(k, "sum") for k in ESTIMATES]]).to_pylist():
        out[row["endpoint"]] = {"requests": row["id_count"], **{k: row[f"{k}_sum"] for k in ESTIMATES}}
    return out
