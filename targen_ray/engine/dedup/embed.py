"""Row embeddings as a Ray Data stage (`encoders`: the model and its runtime), on an actor pool that
grows with the cluster, written to the run dir as they come so that analysis and decontamination reuse
them and a resumed run embeds only what is new."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import ray

from ...config import DedupSpec
from ..store import RunDir, row_group_rows
from . import encoders
from .encoders import DIM

ENCODE_BATCH = encoders.ENCODE_BATCH
BLOCK_ROWS = ENCODE_BATCH * 16
READ_TASKS = 2  # row groups read at once: a read takes well under the time its rows take to embed


def vectors(table: pa.Table, column: str = "embedding") -> np.ndarray:
    """The embedding column as an (n, DIM) float32 matrix, without a copy per row."""
    col = table[column].combine_chunks()
    return col.values.to_numpy(zero_copy_only=False).reshape(-1, DIM)


# Below this many rows the stage runs as tasks, not on an actor pool. An actor pool starts fresh
# processes for every stage, and each spends seconds importing its runtime and loading the model, which
# dwarfs a small top-up round. Tasks run in Ray's pooled worker processes, which keep the model loaded
# from one stage (and one run) to the next.
ACTOR_POOL_FROM = 2_000


def unit_rows(texts: list[str], backend: str, threads: int) -> np.ndarray:
    """Each text's embedding; a text that occurs more than once (a seed reused across labels, a copy)
    is embedded once."""
    unique, inverse = np.unique(np.array(texts, dtype=object), return_inverse=True)
    return encoders.encoder(backend, threads).encode(unique.tolist())[inverse.ravel()]


def encode(batch: pa.Table, backend: str, threads: int, transform: Callable | None = None) -> pa.Table:
    """Shape the batch with `transform` (which makes the `text` column; CPU work, so it runs where the
    CPUs are reserved), then replace `text` with `embedding`; other columns pass through."""
    if transform is not None:
        batch = transform(batch)
    values = pa.array(unit_rows(batch["text"].to_pylist(), backend, threads).ravel())
    return batch.drop_columns(["text"]).append_column("embedding", pa.FixedSizeListArray.from_arrays(values, DIM))


class Embedder:
    """One Ray actor of the pool: the model is loaded when it starts, then `encode` runs per batch."""

    def __init__(self, backend: str, threads: int, transform: Callable | None = None):
        self.backend, self.threads, self.transform = backend, threads, transform
        encoders.encoder(backend, threads)

    def __call__(self, batch: pa.Table) -> pa.Table:
        return encode(batch, self.backend, self.threads, self.transform)


def most_workers(d: DedupSpec) -> int:
    """`dedup.workers`, or with none set as many as the cluster's CPUs hold: the pool grows to it while
    there is work queued and CPUs are free, so a bigger cluster embeds faster with nothing changed."""
    if d.workers is not None:
        return d.workers
    return max(1, int(ray.cluster_resources().get("CPU", 1) // d.worker_cpus))


def embed(ds: ray.data.Dataset, rows: int, d: DedupSpec, transform: Callable | None = None) -> ray.data.Dataset:
    """Rows (with a `text` column, or that `transform` gives one) -> the same rows with `embedding`
    instead, on workers of `d.worker_cpus` CPUs each (that many threads): an actor pool of 1 to
    `most_workers(d)` from ACTOR_POOL_FROM `rows`, tasks below."""
    kwargs = {"backend": d.backend, "threads": max(1, int(d.worker_cpus)), "transform": transform}
    common = {"batch_size": BLOCK_ROWS, "batch_format": "pyarrow", "num_cpus": d.worker_cpus}
    most = most_workers(d)
    if rows >= ACTOR_POOL_FROM:
        pool = ray.data.ActorPoolStrategy(min_size=1, max_size=most)
        return ds.map_batches(Embedder, fn_constructor_kwargs=kwargs, compute=pool, **common)
    return ds.map_batches(encode, fn_kwargs=kwargs, compute=ray.data.TaskPoolStrategy(size=most), **common)


def embed_parts(
    run: RunDir,
    paths: list[str],
    transform: Callable[[pa.Table], pa.Table],
    skip: pa.Array,
    where: str,
    round_id: str,
    d: DedupSpec,
) -> int:
    """Embed the rows of some Parquet parts, shaped by `transform` (which makes `text`), leaving out ids
    in `skip`; results go to `where` under `round_id` as they come. Returns how many rows.

    One read task per row group (8 MiB in compacted files), so blocks spread over the actors without a
    repartition; reading is I/O and reserves no CPU, so actors may hold every CPU of a node. With no CPU
    to bound them, READ_TASKS bounds how many run at once: unbounded, Ray started a worker process per
    row group (64 at full-size ReCoRD, 10.7 GB; benchmarks/embed_reads.py).
    """
    groups = [{"path": p, "group": g, "rows": n} for p in paths for g, n in enumerate(row_group_rows(p, run.fs))]
    if not groups:
        return 0
    todo = sum(g["rows"] for g in groups) - len(skip)
    ds = ray.data.from_items(groups, override_num_blocks=len(groups))
    read = ray.data.TaskPoolStrategy(size=READ_TASKS)
    ds = ds.map_batches(
        _read, fn_kwargs={"fs": run.fs, "skip": skip}, batch_size=None, batch_format="pyarrow", num_cpus=0, compute=read
    )
    rows = 0
    for batch in embed(ds, todo, d, transform).iter_batches(batch_size=None, batch_format="pyarrow"):
        run.write_part(where, round_id, batch)
        rows += batch.num_rows
    run.compact(where, round_id)
    return rows


def _read(items: pa.Table, fs, skip: pa.Array) -> Iterator[pa.Table]:
    for path, group in zip(items["path"].to_pylist(), items["group"].to_pylist(), strict=True):
        with pq.ParquetFile(path, filesystem=fs) as f:
            table = f.read_row_group(group)
        if len(skip):
            table = table.filter(pc.invert(pc.is_in(table["id"], skip)))
        if table.num_rows:
            yield table
