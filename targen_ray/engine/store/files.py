"""A run directory's files on a local disk or an object store (pyarrow's filesystems), each written whole
or not at all: a local file under a temporary name, then renamed; an object-store PUT is atomic by itself."""

from __future__ import annotations

import json
import os
import posixpath
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

ROW_GROUP_BYTES = 8 * 2**20  # what readers and compaction hold at once


class Files:
    """The files under one folder, by their names relative to it."""

    def __init__(self, uri: str | Path):
        uri = str(uri)
        if "://" in uri:
            self.fs, self.path = pafs.FileSystem.from_uri(uri)
            self.uri = uri.rstrip("/")
        else:
            self.fs, self.path = pafs.LocalFileSystem(), str(Path(uri).resolve())
            self.uri = self.path
        self.local = isinstance(self.fs, pafs.LocalFileSystem)

    def __str__(self) -> str:
        return self.uri

    def _p(self, *parts: str) -> str:
        return posixpath.join(self.path, *(p for p in parts if p))

    def file_path(self, name: str) -> str:
        """The full path (within `fs`) of a file of the run directory."""
        return self._p(name)

    def files(self, where: str, recursive: bool = False) -> list[str]:
        """Paths of the files under a folder (sorted), temporary files left out."""
        selector = pafs.FileSelector(self._p(where), allow_not_found=True, recursive=recursive)
        infos = self.fs.get_file_info(selector)
        return sorted(i.path for i in infos if i.type == pafs.FileType.File and not i.base_name.startswith("."))

    def folders(self, where: str) -> list[str]:
        """Names of the folders directly under a folder (sorted)."""
        selector = pafs.FileSelector(self._p(where), allow_not_found=True)
        return sorted(i.base_name for i in self.fs.get_file_info(selector) if i.type == pafs.FileType.Directory)

    # -- writing -------------------------------------------------------------------------------------
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

    def write_table(self, name: str, table: pa.Table) -> None:
        """Write a Parquet file of the run directory; it appears whole or not at all."""
        self._write_table(self._p(name), table)

    def _write_table(self, path: str, table: pa.Table) -> None:
        """Row groups of about ROW_GROUP_BYTES: readers go a row group at a time, and a part as large as a
        batch's results (tens of thousands of rows) must not be one group."""
        rows = max(1, table.num_rows * ROW_GROUP_BYTES // max(table.nbytes, 1))
        self._write(path, lambda p: pq.write_table(table, p, filesystem=self.fs, row_group_size=rows))

    def write_json(self, name: str, data: dict) -> None:
        self.write_bytes(name, (json.dumps(data, indent=2) + "\n").encode())

    def write_bytes(self, name: str, body: bytes) -> None:
        def write(path: str) -> None:
            with self.fs.open_output_stream(path) as f:
                f.write(body)

        self._write(self._p(name), write)

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

    def delete(self, paths: list[str]) -> None:
        for path in paths:
            try:
                self.fs.delete_file(path)
            except FileNotFoundError:
                pass

    def move(self, src: str, dest: str, prefix: str) -> None:
        """Move every file of folder `src` into folder `dest` (e.g. rejects/ to retried/), names prefixed
        with `prefix` (unique per move) so nothing there is overwritten; a rerun finishes a half-done move."""
        for path in self.files(src, recursive=True):
            rel = posixpath.relpath(path, self._p(src)).replace("/", "-")
            target = self._p(dest, f"{prefix}-{rel}")
            self.fs.create_dir(posixpath.dirname(target), recursive=True)
            self.fs.move(path, target)

    # -- reading -------------------------------------------------------------------------------------
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


def row_groups(path: str, fs: pafs.FileSystem, columns: list[str] | None = None) -> Iterator[pa.Table]:
    """A Parquet file a row group at a time: about ROW_GROUP_BYTES for the files this package writes."""
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
