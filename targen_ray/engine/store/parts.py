"""A stage's rows as Parquet parts, appended as they complete and numbered per folder and round so that
none is overwritten; a finished stage's parts merged (compaction), with a small intent file so that a
crash half-way is finished or undone the next time the directory is opened."""

from __future__ import annotations

import json
import posixpath
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from . import files
from .files import release_memory, row_groups
from .layout import Layout

COMPACT_BYTES = 128 * 2**20  # in-memory size of a compacted file: large enough to scan fast, small enough to split


class Parts(Layout):
    def __init__(self, uri: str | Path):
        super().__init__(uri)
        self._next_part: dict[tuple[str, str], int] = {}

    def parts(self, where: str, round_id: str = "") -> list[str]:
        return [p for p in self.files(where) if _is_part(p, round_id)]

    def write_part(self, where: str, round_id: str, table: pa.Table) -> None:
        """Append one part, numbered per folder and round so that parts are never overwritten."""
        if table.num_rows == 0:
            return
        self._write_table(self._p(where, self._part_name(where, round_id)), table)

    def _part_name(self, where: str, round_id: str) -> str:
        key = (where, round_id)
        if key not in self._next_part:  # list once; afterwards this process is the only writer
            self._next_part[key] = max(map(_number, self.parts(where, round_id)), default=-1) + 1
        n = self._next_part[key]
        self._next_part[key] += 1
        return f"{round_id}-part-{n:05d}.parquet"

    def iter_parts(self, where: str, round_id: str = "", columns: list[str] | None = None) -> Iterator[pa.Table]:
        """The rows of a folder's parts (or those written in round `round_id`), a row group at a time."""
        for path in self.parts(where, round_id):
            yield from row_groups(path, self.fs, columns)

    def read(self, where: str, round_id: str = "", columns: list[str] | None = None) -> pa.Table | None:
        """All parts of a folder (or only those written in round `round_id`), or None if there are none."""
        tables = list(self.iter_parts(where, round_id, columns))
        return pa.concat_tables(tables, promote_options="default") if tables else None

    def done_ids(self, step: str, folders: list[str] | None = None) -> pa.Array:
        """Ids of the rows a step already answered, kept or rejected (or those in other `folders`)."""
        folders = folders or [self.stage_dir(step), self.rejects(step)]
        ids = [t["id"] for where in folders for t in self.iter_parts(where, columns=["id"])]
        return pa.chunked_array(ids, pa.string()).combine_chunks() if ids else pa.array([], pa.string())

    def rewrite(self, where: str) -> Rewrite:
        """Start replacing what a folder (final/, surplus/) holds with files written one at a time."""
        return Rewrite(self, where)

    # -- compaction ----------------------------------------------------------------------------------
    def compact(self, where: str, round_id: str) -> None:
        """Merge the parts of a finished stage (one round) into files of about COMPACT_BYTES, streamed a
        row group at a time, so the driver holds one row group, not one file.

        The intent file names the parts to replace and the first number of the merged files before
        anything changes, so that `_recover` can finish or undo a compaction a crash interrupted.
        """
        old = self.parts(where, round_id)
        if len(old) < 2:
            return
        first = max(map(_number, old)) + 1
        self._next_part[(where, round_id)] = first
        intent = f"{where}/_compacting-{round_id}.json"
        self.write_json(intent, {"replaces": [posixpath.basename(p) for p in old], "first": first})
        schema = pa.unify_schemas([pq.read_schema(p, filesystem=self.fs) for p in old], promote_options="permissive")
        pending = list(old)
        while pending:
            self._write(
                self._p(where, self._part_name(where, round_id)), lambda path: self._merge(pending, schema, path)
            )
        self.write_json(intent, {"replaces": [posixpath.basename(p) for p in old], "done": True})
        self.delete(old)
        self.delete([self._p(intent)])
        release_memory()

    def _merge(self, pending: list[str], schema: pa.Schema, path: str) -> None:
        """Write parts from the front of `pending` into one file at `path` until it holds COMPACT_BYTES."""
        size, group = 0, []
        with pq.ParquetWriter(path, schema, filesystem=self.fs) as writer:
            while pending and size < COMPACT_BYTES:
                for table in row_groups(pending.pop(0), self.fs):
                    group.append(_conform(table, schema))
                    size += table.nbytes
                    if sum(t.nbytes for t in group) >= files.ROW_GROUP_BYTES:
                        writer.write_table(pa.concat_tables(group))
                        group = []
            if group:
                writer.write_table(pa.concat_tables(group))

    def _recover(self) -> None:
        """Finish or undo compactions a crash interrupted: once `done` is recorded the replaced parts
        go; before, the merged files written so far go."""
        for intent in self.files("", recursive=True):
            name = posixpath.basename(intent)
            if not name.startswith("_compacting-"):
                continue
            folder, round_id = posixpath.dirname(intent), name[len("_compacting-") : -len(".json")]
            with self.fs.open_input_stream(intent) as f:
                state = json.loads(f.read())
            if state.get("done"):
                self.delete([posixpath.join(folder, n) for n in state["replaces"]])
            else:
                where = posixpath.relpath(folder, self.path)
                self.delete([p for p in self.parts(where, round_id) if _number(p) >= state["first"]])
            self.delete([intent])


class Rewrite:
    """New content for a folder, streamed: files of a new generation are written as they come, and
    `commit` deletes every other file. Rebuilt whole on every run, so a crash half-way (old and new
    files side by side) is repaired by the next."""

    def __init__(self, run: Parts, where: str):
        self.run, self.where = run, where
        self.generation = time.strftime("%Y%m%dT%H%M%S")
        self.written: set[str] = set()

    def write(self, sub: str, table: pa.Table) -> None:
        if table.num_rows:
            path = self.run._p(self.where, sub, f"{self.generation}-part-{len(self.written):05d}.parquet")
            self.run._write_table(path, table)
            self.written.add(path)

    def commit(self) -> None:
        self.run.delete([p for p in self.run.files(self.where, recursive=True) if p not in self.written])


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """`table` with exactly `schema`'s columns: missing ones null (e.g. a column added by a later version)."""
    cols = [
        table[f.name].cast(f.type) if f.name in table.column_names else pa.nulls(len(table), f.type) for f in schema
    ]
    return pa.Table.from_arrays(cols, schema=schema)


def _is_part(path: str, round_id: str) -> bool:
    name = posixpath.basename(path)
    return name.endswith(".parquet") and (name.startswith(f"{round_id}-part-") if round_id else "-part-" in name)


def _number(path: str) -> int:
    return int(posixpath.basename(path).rsplit("-", 1)[1].split(".")[0])
