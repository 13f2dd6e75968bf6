"""The run directory, the only state of a run: every stage appends Parquet parts here as rows complete.

A run directory is a local path or an object-store URI (`s3://bucket/prefix`, through pyarrow's
filesystems). Running the same job on the same directory again continues it: `run.json` says which
job made it, and a stage sends only the rows whose ids none of its parts (kept, rejected or
superseded) hold yet.

Every file appears whole or not at all: a local file is written under a temporary name and renamed;
an object-store PUT is atomic by itself. Compaction merges a finished stage's parts, with a small
intent file so that a crash half-way is finished (or undone) the next time the directory is opened.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from .errors import RunDirError
from .spec import JUDGE_MARK, judge_of

RUN_FILE = "run.json"
COMPACT_BYTES = 128 * 2**20  # in-memory size of a compacted file: large enough to scan fast, small enough to split
ROW_GROUP_BYTES = 8 * 2**20  # what compaction holds at once

STAGE_DIRS = {
    "contexts": "01_contexts",
    "seeds": "02_seeds",
    "generate": "03_generated",
    "correct": "04_corrected",
    "dedup": "05_deduped",  # the rows stage 5 dropped; features it computed live in 05_embeddings
}


JUDGES_DIR = "04_judges"  # a panel judge's answers: 04_judges/<judge>/


class RunDir:
    def __init__(self, uri: str | Path):
        uri = str(uri)
        if "://" in uri:
            self.fs, self.path = pafs.FileSystem.from_uri(uri)
            self.uri = uri.rstrip("/")
        else:
            self.fs, self.path = pafs.LocalFileSystem(), str(Path(uri).resolve())
            self.uri = self.path
        self.local = isinstance(self.fs, pafs.LocalFileSystem)
        self._next_part: dict[tuple[str, str], int] = {}

    def __str__(self) -> str:
        return self.uri

    def _p(self, *parts: str) -> str:
        return posixpath.join(self.path, *(p for p in parts if p))

    # -- identity ------------------------------------------------------------------------------------
    def claim(self, identity: dict, files: dict | None = None, redo: list[str] = ()) -> str:
        """Make this directory the run of `identity` (job, spec and prompt hashes, limit).

        Returns "new", "resume", or "redo" when the identity changed and the stages in `redo` (and
        every later one) were superseded: moved to superseded/ before the new identity is written, so
        a crash half-way leaves the old run, and the same command finishes the move. Without `redo` a
        changed identity is refused, and so is a directory holding files that are not a run.
        """
        try:
            found = self.read_json(RUN_FILE)
            if found is None and self.files(""):
                raise RunDirError(f"{self} holds files that are not a targen run; use a new --run-dir")
            same = found is not None and all(found.get(k) == v for k, v in identity.items())
            if found is not None and not same:
                if not redo:
                    diff = ", ".join(f"{k} {found.get(k)!r} -> {v!r}" for k, v in identity.items() if found.get(k) != v)
                    raise RunDirError(
                        f"{self} holds a run of a different job ({diff}); use a new --run-dir, "
                        "or --force STAGES to redo stages with the new one"
                    )
                self._supersede(redo, stamp())
            if not same or (files and found.get("files") != files):
                self.fs.create_dir(self.path, recursive=True)
                self.write_json(RUN_FILE, {**identity, "files": files or {}})
            self._recover()
        except OSError as e:
            raise RunDirError(f"run directory {self} is not usable: {_reason(e)}") from None
        return "new" if found is None else "resume" if same else "redo"

    def _supersede(self, stages: list[str], when: str) -> None:
        """Move what `stages` wrote (kept, rejected, retried) aside: it stays in the cost ledger but no
        longer counts as done, so those stages are sent again."""
        for stage in stages:  # with its batch records: the runner cancels batches still in flight (old job)
            kept = (self.stage_dir(stage), self.rejects(stage), self.retried(stage), self.batch_records(stage))
            for where in kept:
                self.move(where, self.superseded(stage), f"{when}-{where.replace('/', '-')}")
        if stages:  # stage 5's features describe rows that are now being made again; they cost nothing
            self.delete(self.files(self.embeddings(), recursive=True))

    # -- files ---------------------------------------------------------------------------------------
    def files(self, where: str, recursive: bool = False) -> list[str]:
        """Paths of the files under a folder (sorted), temporary files left out."""
        selector = pafs.FileSelector(self._p(where), allow_not_found=True, recursive=recursive)
        infos = self.fs.get_file_info(selector)
        return sorted(i.path for i in infos if i.type == pafs.FileType.File and not i.base_name.startswith("."))

    def final_digest(self, salt: str = "") -> str:
        """sha256 of the final splits' files (names and bytes) after `salt`: what the dataset is made of,
        so that what was measured or published of it can tell whether it is still the same."""
        h = hashlib.sha256(salt.encode())
        for path in self.files(self.final(), recursive=True):
            h.update(path.rsplit(f"/{self.final()}/", 1)[-1].encode())
            with self.fs.open_input_stream(path) as f:
                while chunk := f.read(2**22):
                    h.update(chunk)
        return h.hexdigest()

    def parts(self, where: str, round_id: str = "") -> list[str]:
        return [p for p in self.files(where) if _is_part(p, round_id)]

    def _write(self, path: str, write: Callable[[str], None]) -> None:
        if not self.local:  # an object appears only once its upload completes
            write(path)
            return
        folder, name = posixpath.split(path)
        self.fs.create_dir(folder, recursive=True)
        tmp = posixpath.join(folder, f".{name}.tmp")
        write(tmp)
        self.fs.move(tmp, path)

    def write_file(self, name: str, write: Callable[[str], None]) -> None:
        """Write a file of the run directory with `write(path)`; it appears whole or not at all."""
        self._write(self._p(name), write)

    @staticmethod
    def log_file() -> str:
        """Ray's and the libraries' lines of every `targen run` of this directory (terminal.py)."""
        return "logs/ray.log"

    def append_bytes(self, name: str, body: bytes) -> None:
        """`name` with `body` after what it held, on disk when this returns (object stores have no
        append: the object is rewritten)."""
        path = self._p(name)
        if self.local:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            with open(path, "ab") as f:
                f.write(body)
                f.flush()
                os.fsync(f.fileno())
            return
        before = b""
        if self.fs.get_file_info(path).type == pafs.FileType.File:
            with self.fs.open_input_stream(path) as f:
                before = f.read()
        self.write_bytes(name, before + body)

    def file_path(self, name: str) -> str:
        """The full path (within `fs`) of a file of the run directory."""
        return self._p(name)

    def write_table(self, name: str, table: pa.Table) -> None:
        """Write a Parquet file of the run directory; it appears whole or not at all."""
        self._write_table(self._p(name), table)

    def _write_table(self, path: str, table: pa.Table) -> None:
        """Row groups of about ROW_GROUP_BYTES: readers go a row group at a time, and a part as large as a
        batch's results (tens of thousands of rows) must not be one group."""
        rows = max(1, table.num_rows * ROW_GROUP_BYTES // max(table.nbytes, 1))
        self._write(path, lambda p: pq.write_table(table, p, filesystem=self.fs, row_group_size=rows))

    def read_text(self, path: str) -> str:
        """A file's text, by the path `files` gave."""
        with self.fs.open_input_stream(path) as f:
            return f.read().decode()

    def read_json(self, name: str) -> dict | None:
        try:
            with self.fs.open_input_stream(self._p(name)) as f:
                return json.loads(f.read())
        except FileNotFoundError:
            return None

    def write_json(self, name: str, data: dict) -> None:
        self.write_bytes(name, (json.dumps(data, indent=2) + "\n").encode())

    def write_bytes(self, name: str, body: bytes) -> None:
        def write(path: str) -> None:
            with self.fs.open_output_stream(path) as f:
                f.write(body)

        self._write(self._p(name), write)

    def delete(self, paths: list[str]) -> None:
        for path in paths:
            try:
                self.fs.delete_file(path)
            except FileNotFoundError:
                pass

    # -- the layout: every folder and file of a run is named here, and nowhere else ------------------
    @staticmethod
    def stage_dir(stage: str) -> str:
        """The rows a step kept (or, for "dedup", the rows stage 5 dropped; for a panel judge's stage
        `correct@NAME`, that judge's answers, which step 4's folder holds decided)."""
        judge = judge_of(stage)
        return f"{JUDGES_DIR}/{judge}" if judge else STAGE_DIRS[stage]

    def judge_stages(self) -> list[str]:
        """The panel judges' stages whose answers this run directory holds, a judge `--force` dropped
        from the panel included (its answers were paid for)."""
        selector = pafs.FileSelector(self._p(JUDGES_DIR), allow_not_found=True)
        found = [i.base_name for i in self.fs.get_file_info(selector) if i.type == pafs.FileType.Directory]
        return [f"correct{JUDGE_MARK}{judge}" for judge in sorted(found)]

    def batch_stages(self) -> list[str]:
        """The stages that submitted batches to a provider in this run directory (a dropped judge's too)."""
        selector = pafs.FileSelector(self._p(self.batch_records("")), allow_not_found=True)
        return sorted(i.base_name for i in self.fs.get_file_info(selector) if i.type == pafs.FileType.Directory)

    @staticmethod
    def rejects(step: str) -> str:
        """The rows a step could not use, with why."""
        return f"rejects/{step}"

    @staticmethod
    def retried(step: str) -> str:
        """Rejects `targen retry-rejects` sent again (paid for, no longer done)."""
        return f"retried/{step}"

    @staticmethod
    def superseded(step: str) -> str:
        """What a step wrote before `--force` redid it (paid for, no longer done)."""
        return f"superseded/{step}"

    @staticmethod
    def paid(step: str) -> list[str]:
        """Every folder holding rows a step paid for: kept, rejected, retried, superseded."""
        return [RunDir.stage_dir(step), RunDir.rejects(step), RunDir.retried(step), RunDir.superseded(step)]

    @staticmethod
    def batch_records(step: str, round_id: str = "") -> str:
        """The records (.json) and row files of the batches a step submitted, per round."""
        return posixpath.join("batches", step, round_id) if round_id else posixpath.join("batches", step)

    @staticmethod
    def intents(stage: str, round_id: str = "", intent: str = "") -> str:
        """A stage's intent records (execute/intents.py): one file per batch of requests a worker sent."""
        folder = posixpath.join("intents", stage)
        return posixpath.join(folder, f"{round_id}-{intent}.parquet") if intent else folder

    @staticmethod
    def final(split: str = "") -> str:
        """The splits stage 6 wrote (one folder per split)."""
        return posixpath.join("final", split) if split else "final"

    @staticmethod
    def surplus() -> str:
        """Rows made beyond a quota, kept aside by stage 6."""
        return "surplus"

    @staticmethod
    def embeddings() -> str:
        """Stage 5's features per row: embedding and MinHash signature."""
        return "05_embeddings"

    @staticmethod
    def reference_vectors(key: str) -> str:
        """A reference set's embeddings, per reference content."""
        return f"05_reference/{key}"

    @staticmethod
    def review() -> str:
        """Human review: the sample's seed, reviewers' decisions (append-only), exports and the audit."""
        return "review"

    @staticmethod
    def review_seed_file() -> str:
        """The seed that fixes the review sample, drawn once per run."""
        return "review/seed.json"

    @staticmethod
    def review_decisions(reviewer: str = "") -> str:
        """A reviewer's decisions, one JSON line each (the folder: every reviewer's)."""
        return f"review/decisions/{reviewer}.jsonl" if reviewer else "review/decisions"

    @staticmethod
    def review_export(fmt: str) -> str:
        """`targen review --export`: the sample for another tool (labelstudio: its JSON import; csv)."""
        return "review/sample-labelstudio.json" if fmt == "labelstudio" else f"review/sample.{fmt}"

    @staticmethod
    def audit_file() -> str:
        """`targen audit`'s figures (audit.py), tied to the final rows by their digest."""
        return "review/audit.json"

    @staticmethod
    def panel_file() -> str:
        """The vote rule step 4's panel decided the rows under (panel.py)."""
        return "panel.json"

    @staticmethod
    def summary_file() -> str:
        """What the run made, cost and took (summary.py)."""
        return "summary.json"

    @staticmethod
    def superglue() -> str:
        """`targen export`'s folder: the final splits as SuperGLUE's JSONL files."""
        return "superglue"

    @staticmethod
    def report() -> str:
        """`targen analyze`'s folder: metrics.json, report.html and plots/."""
        return "report"

    @staticmethod
    def structured_file() -> str:
        """The structured-output modes `auto` endpoints were probed to (probe.py), and what probing cost."""
        return "structured.json"

    def records(self, folder: str, recursive: bool = False) -> dict[str, dict]:
        """The JSON records of a folder (batch records; with `recursive`, of its subfolders too, as every
        round's of a stage), by their name in the run directory."""
        base = self._p(folder)
        names = [
            posixpath.join(folder, posixpath.relpath(p, base))
            for p in self.files(folder, recursive)
            if p.endswith(".json")
        ]
        return {name: record for name in names if (record := self.read_json(name)) is not None}

    def superseded_batch_records(self, step: str) -> dict[str, dict]:
        """The batch records `--force` moved aside for a step (their names say where they came from)."""
        mark = f"-{self.batch_records(step).replace('/', '-')}-"  # _supersede's prefix: <when>-batches-<step>-
        return {n: r for n, r in self.records(self.superseded(step)).items() if mark in n.rsplit("/", 1)[-1]}

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

    def move(self, src: str, dest: str, prefix: str) -> None:
        """Move every file of folder `src` into folder `dest` (e.g. rejects/ to retried/), names prefixed
        with `prefix` (unique per move) so nothing there is overwritten; a rerun finishes a half-done move."""
        for path in self.files(src, recursive=True):
            rel = posixpath.relpath(path, self._p(src)).replace("/", "-")
            target = self._p(dest, f"{prefix}-{rel}")
            self.fs.create_dir(posixpath.dirname(target), recursive=True)
            self.fs.move(path, target)

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
                    if sum(t.nbytes for t in group) >= ROW_GROUP_BYTES:
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

    def __init__(self, run: RunDir, where: str):
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


def row_groups(path: str, fs: pafs.FileSystem, columns: list[str] | None = None) -> Iterator[pa.Table]:
    """A Parquet file a row group at a time: about ROW_GROUP_BYTES for the files this module writes."""
    with pq.ParquetFile(path, filesystem=fs) as f:
        for group in range(f.num_row_groups):
            yield f.read_row_group(group, columns=columns)


def row_group_rows(path: str, fs: pafs.FileSystem) -> list[int]:
    """Rows in each row group of a Parquet file, from its footer."""
    with pq.ParquetFile(path, filesystem=fs) as f:
        return [f.metadata.row_group(g).num_rows for g in range(f.num_row_groups)]


def release_memory() -> None:
    """Hand Arrow's freed memory back to the OS. Its allocator (mimalloc) keeps freed pages for reuse;
    after a stage, a compaction or the split that is a long-lived driver holding what it no longer uses."""
    pa.default_memory_pool().release_unused()


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """`table` with exactly `schema`'s columns: missing ones null (e.g. a column added by a later version)."""
    cols = [
        table[f.name].cast(f.type) if f.name in table.column_names else pa.nulls(len(table), f.type) for f in schema
    ]
    return pa.Table.from_arrays(cols, schema=schema)


def stamp() -> str:
    """A prefix for one move's files (`RunDir.move`), unique to it and in time order: two runs within a
    second each move a part their fresh numbering named the same (r0-part-00000), and a second's
    resolution let the later move overwrite the earlier one's, paid for."""
    return f"{time.strftime('%Y%m%dT%H%M%S')}{time.time_ns() % 10**9:09d}"


def _is_part(path: str, round_id: str) -> bool:
    name = posixpath.basename(path)
    return name.endswith(".parquet") and (name.startswith(f"{round_id}-part-") if round_id else "-part-" in name)


def _number(path: str) -> int:
    return int(posixpath.basename(path).rsplit("-", 1)[1].split(".")[0])


def _reason(e: OSError) -> str:
    return e.strerror or str(e).splitlines()[0]
