"""The batches a step submitted to a provider's Batch API in one round: each batch's rows file
(`NNNNN.parquet`) and, beside it, its JSON record (label, batch id, endpoint, counts, whether collected),
written before the batch is created and again the moment it has an id, so a later run picks it up."""

from __future__ import annotations

import posixpath

import pyarrow as pa
import pyarrow.parquet as pq

from .run_dir import RunDir


class BatchRecords:
    def __init__(self, run: RunDir, step: str, round_id: str):
        self.run, self.folder = run, run.batch_records(step, round_id)
        self.records: dict[str, dict] = {}  # by rows file: those read or saved by this process

    def stored(self) -> list[tuple[str, dict | None]]:
        """Every rows file of the folder with its record (None where the record was never written)."""
        rows = [p for p in self.run.files(self.folder) if p.endswith(".parquet")]
        return [(p, self.run.read_json(self._record_name(p))) for p in rows]

    def save(self, path: str, record: dict) -> None:
        self.records[path] = record
        self.run.write_json(self._record_name(path), record)

    def drop(self, path: str) -> None:
        """A batch that never came to exist: its rows file and record go, and its rows are sent again."""
        self.records.pop(path, None)
        self.run.delete([path, self.run.file_path(self._record_name(path))])

    def write_rows(self, table: pa.Table) -> tuple[str, int]:
        """A new batch's rows under the next number: the rows file's path and the number."""
        number = max((_number(p) for p in self.records), default=-1) + 1
        name = f"{self.folder}/{number:05d}.parquet"
        self.run.write_table(name, table)
        return self.run.file_path(name), number

    def open(self) -> list[str]:
        """The rows files of the batches not collected yet."""
        return [p for p, r in self.records.items() if not r["collected"]]

    def in_flight(self) -> pa.Array:
        """Ids of the rows in batches not collected yet: they are not sent again."""
        ids = [pq.read_table(p, columns=["id"], filesystem=self.run.fs)["id"] for p in self.open()]
        return pa.chunked_array(ids, pa.string()).combine_chunks() if ids else pa.array([], pa.string())

    def _record_name(self, path: str) -> str:
        return f"{self.folder}/{_number(path):05d}.json"


def uncollected(run: RunDir, step: str, round_id: str) -> list[dict]:
    """The records of a round's batches whose results no run has collected yet."""
    return [r for r in run.records(run.batch_records(step, round_id)).values() if not r["collected"]]


def orphaned(run: RunDir, stages: list[str]) -> dict[str, tuple[str, dict]]:
    """The batch records nothing will collect for a job that runs `stages`, by name, with their stage:
    those `--force` moved aside (the single judge a panel replaced among them), and every one of a stage
    the job no longer runs (a panel judge a `--force` dropped: its folders stay where they were)."""
    found = {}
    for stage in dict.fromkeys([*stages, "correct", *run.batch_stages()]):
        found |= {name: (stage, r) for name, r in run.superseded_batch_records(stage).items()}
        if stage not in stages and stage != "correct":
            found |= {name: (stage, r) for name, r in run.records(run.batch_records(stage), recursive=True).items()}
    return found


def _number(path: str) -> int:
    return int(posixpath.basename(path).split(".")[0])
