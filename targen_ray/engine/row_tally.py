"""Row tallies of a table: per split, the rows and a digest of them that is independent of row order
and of files (the sum of each row's sha256 modulo 2**256, a multiset hash), so an engine's compaction
keeps it. What `targen publish` records of a run in an Iceberg snapshot (iceberg_sink.py, as the rows are
written) and what `targen verify` computes of the table's rows (iceberg.py), the same way."""

from __future__ import annotations

import hashlib

import pyarrow as pa

SPLIT = "split"  # the table's column naming each row's split
ROWS = "targen.rows"  # the snapshot property holding the tally of the rows the snapshot added
MOD = 2**256


def row_digests(rows: pa.Table) -> dict[str, dict]:
    """Per split: the rows and the sum of each row's sha256, modulo 2**256, as hex; a row is hashed as
    polars encodes it to JSON (its fields in the table's order). What publish records of a run and what
    verify computes of a table, the same way. Encoding in polars, not Python's json module, because
    `to_pylist` and `json.dumps` took 110 µs a ReCoRD row, ten times the Parquet write."""
    import polars as pl

    fields = [n for n in rows.column_names if n != SPLIT]
    texts = pl.from_arrow(rows.select(fields)).select(pl.struct(fields).struct.json_encode()).to_series()
    out: dict[str, list[int]] = {}
    for split, text in zip(rows[SPLIT].to_pylist(), texts.to_list(), strict=True):
        tally = out.setdefault(split, [0, 0])
        tally[0] += 1
        tally[1] = (tally[1] + int.from_bytes(hashlib.sha256(text.encode()).digest(), "big")) % MOD
    return {s: entry(n, d) for s, (n, d) in out.items()}


def entry(rows: int, digest: int) -> dict:
    """One split's tally as stored: its rows and its digest in hex."""
    return {"rows": rows, "digest": f"{digest:064x}"}


def add(tallies: list[dict[str, dict]]) -> dict[str, dict]:
    """Row digests of several parts (or runs) as one."""
    out: dict[str, list[int]] = {}
    for tally in tallies:
        for split, t in tally.items():
            n, d = out.get(split, (0, 0))
            out[split] = [n + t["rows"], (d + int(t["digest"], 16)) % MOD]
    return {s: entry(n, d) for s, (n, d) in sorted(out.items())}
