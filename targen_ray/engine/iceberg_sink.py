"""Ray Data's Iceberg sink (what `Dataset.write_iceberg` builds), counting what it writes: each write task
adds up the row digests of the blocks it writes, and the commit puts their sum in the snapshot's summary
beside the lineage. So the rows are read once, by the tasks that write them, and the digest is of exactly
what was written; the driver gets file metadata and a few numbers per task.

Imported only by `targen publish` to an iceberg:// table: it loads Ray Data's internals and pyiceberg.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import pyarrow as pa
from ray.data._internal.datasource.iceberg_datasink import IcebergDatasink, IcebergWriteResult
from ray.data.block import Block, BlockAccessor

from .row_tally import ROWS, add, row_digests


@dataclass
class TalliedResult(IcebergWriteResult):
    tally: dict = field(default_factory=dict)  # per split: rows and their digest (row_tally.row_digests)


class TalliedSink(IcebergDatasink):
    def __init__(self, *args, schema: pa.Schema, **kwargs):
        super().__init__(*args, **kwargs)
        self._rows_schema = schema

    def on_write_start(self, schema: pa.Schema | None = None) -> None:
        # Ray passes the schema of the first bundle into the write operator, which, fused with the read,
        # is the file listing's (a union of it would add its columns to the table). The rows' is known.
        super().on_write_start(self._rows_schema)

    def write(self, blocks: Iterable[Block], ctx) -> TalliedResult:
        tallies = []

        def watched() -> Iterator[Block]:
            for block in blocks:
                tallies.append(row_digests(BlockAccessor.for_block(block).to_arrow()))
                yield block

        written = super().write(watched(), ctx)
        return TalliedResult(written.data_files, written.upsert_keys, written.schemas, add(tallies))

    def on_write_complete(self, write_result) -> None:
        rows = add([r.tally for r in write_result.write_returns if r])
        # Ray's sink commits with these properties (a copy of those it was given): the digest joins them.
        self._snapshot_properties[ROWS] = json.dumps(rows, sort_keys=True)
        super().on_write_complete(write_result)
