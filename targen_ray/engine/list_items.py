"""The lists a step returns (contexts, seeds) as one row per item, exact duplicates dropped, ids stable.

Which items survive is decided from 8-byte digests of their normalised text, read a row group at a
time, so that the driver never holds a round of full-size ReCoRD passages; the text itself is joined
back where it is used (in the driver for the few contexts, in stage 3's read tasks for seeds).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .ids import stable_id

KEYS = ["parent", "position"]


def explode(table: pa.Table, list_col: str) -> pa.Table:
    """One row per item of `list_col`: its parent row's id, its position in the list, the item, and
    the parent's other columns."""
    lengths = pc.fill_null(pc.list_value_length(table[list_col]), 0).to_numpy()
    parent = np.repeat(np.arange(table.num_rows), lengths)
    position = np.arange(len(parent)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    rest = table.drop_columns([list_col, "id"]).take(parent)
    items = pc.list_flatten(table[list_col])
    cols = {"parent": table["id"].take(parent), "position": pa.array(position, pa.int32()), "item": items}
    return pa.table({**cols, **{c: rest[c] for c in rest.column_names}})


def unique(parts: Iterable[pa.Table], list_col: str, id_stage: str, job_name: str) -> pa.Table:
    """(parent, position, item_id) of every item whose normalised text was not seen before it, in
    (parent id, position) order: the same items, ids and order in every run of the job, whatever order
    the requests completed in."""
    keys, hashes = [], []
    for part in parts:
        items = explode(part.select(["id", list_col]), list_col)
        keys.append(items.select(KEYS))
        hashes.append(digests(items["item"]))
    if not keys:
        return pa.table({"parent": pa.array([], pa.string()), "position": pa.array([], pa.int32()), "item_id": []})
    table = pa.concat_tables(keys)
    order = pc.sort_indices(table, [(k, "ascending") for k in KEYS]).to_numpy()
    _, first = np.unique(np.concatenate(hashes)[order], return_index=True)
    table = table.take(order[np.sort(first)])
    ids = [
        stable_id(job_name, id_stage, p, i)
        for p, i in zip(table["parent"].to_pylist(), table["position"].to_pylist(), strict=True)
    ]
    return table.append_column("item_id", pa.array(ids, pa.string()))


def attach(table: pa.Table, list_col: str, kept: pa.Table) -> pa.Table:
    """The items of `table` that `kept` names, each with `kept`'s other columns, in `kept`'s order."""
    joined = explode(table, list_col).join(kept, keys=KEYS, join_type="inner")
    return joined.sort_by([(k, "ascending") for k in KEYS]).drop_columns(KEYS)


DIGEST_CHUNK = 8192


def digests(items: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Lower-cased text with runs of non-word characters as one space, hashed to 8 bytes, a chunk at a
    time, so that the normalised copies of a row group's text are never all alive at once."""
    out = [np.zeros(0, np.uint64)]
    for i in range(0, len(items), DIGEST_CHUNK):
        text = pc.utf8_lower(pc.fill_null(items.slice(i, DIGEST_CHUNK), ""))
        key = pc.utf8_trim_whitespace(pc.replace_substring_regex(text, r"[^\p{L}\p{N}_]+", " "))
        found = [hashlib.blake2b(k.encode(), digest_size=8).digest() for k in key.to_pylist()]
        out.append(np.frombuffer(b"".join(found), "<u8"))
    return np.concatenate(out)
