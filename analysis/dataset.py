"""The rows analysed, as one lazy polars frame (id, split, label, the task's text fields) that metrics
stream: a run's final splits scanned from their Parquet files, or a reference file a user has in the
task's fields (e.g. the original SuperGLUE split)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads

from targen_ray.config import SPLITS, DedupSpec
from targen_ray.engine.dedup.embed import unit_rows, vectors
from targen_ray.engine.dedup.reference import read_rows, split_of
from targen_ray.engine.dedup.text import row_text
from targen_ray.engine.store import RUN_FILE, RunDir
from targen_ray.engine.tasks import Task, recorded_task
from targen_ray.errors import SpecError


@dataclass
class Dataset:
    name: str  # "synthetic" or "reference"
    frame: pl.LazyFrame  # id, split, label (null where a row has none), then the text fields
    fields: list[str]
    embeddings: np.ndarray | None  # unit rows aligned with `frame`, or None where there are none
    rows: int

    def sample(self, n: int, seed: int = 0) -> Dataset:
        """n rows drawn without replacement (all of them when there are no more), seeded."""
        if n >= self.rows:
            return self
        pick = np.sort(np.random.default_rng(seed).choice(self.rows, n, replace=False))
        emb = None if self.embeddings is None else self.embeddings[pick]
        frame = self.frame.with_row_index("_row").filter(pl.col("_row").is_in(pick)).drop("_row")
        return Dataset(self.name, frame.collect().lazy(), self.fields, emb, n)

    def texts(self) -> list[str]:
        """Each row's text fields joined as stage 5 embeds them (shortest first)."""
        rows = self.frame.select(self.fields).collect().iter_rows(named=True)
        return [row_text(r, self.fields) for r in rows]

    def embedded(self) -> Dataset:
        """This dataset with embeddings, made with stage 5's model where there are none (a reference)."""
        if self.embeddings is not None or not self.rows:
            return self
        x = unit_rows(self.texts(), DedupSpec().backend, threads=2)
        return Dataset(self.name, self.frame, self.fields, x, self.rows)


def run_task(run: RunDir) -> Task:
    recorded = run.read_json(RUN_FILE)
    if recorded is None or not run.files(run.final(), recursive=True):
        raise SpecError(f"{run}: no finished run here (no {RUN_FILE} or no {run.final()}/)")
    return recorded_task(recorded)


def field_columns(task: Task) -> dict[str, str]:
    """Text field -> its column here: its own name unless that is one of the frame's own (id, split,
    label: a declared task may have a text field called id)."""
    return {f: f"{f}_" if f in ("id", "split", "label") else f for f in task.text_fields}


def from_run(run: RunDir, task: Task) -> Dataset:
    """The run's final splits, with the embeddings stage 5 stored for them (None if it stored none)."""
    named = field_columns(task)
    fields = list(named.values())
    columns = [
        pl.col(task.lineage_name("id")).alias("id"),
        pl.col(task.lineage_name("final_label")).cast(pl.Int64).alias("label"),
        *(pl.col(f).alias(a) for f, a in named.items()),
    ]
    splits = [
        scan(run, paths).select(columns).with_columns(split=pl.lit(split)).select("id", "split", "label", *fields)
        for split in SPLITS
        if (paths := run.files(run.final(split)))
    ]
    frame = pl.concat(splits)
    ids = frame.select("id").collect()["id"].to_arrow().cast(pa.string())
    return Dataset("synthetic", frame, fields, _stored_embeddings(run, ids), len(ids))


def final_rows(run: RunDir, columns: list[pl.Expr], schema: dict) -> pl.DataFrame:
    """The run's train and test splits as `columns` (a split with no rows: `schema`), each row with its
    `split`: what `targen evaluate`'s answer baselines train and score on."""
    frames = []
    for split in ("train", "test"):
        paths = run.files(run.final(split))
        frame = scan(run, paths).select(columns).collect() if paths else pl.DataFrame(schema=schema)
        frames.append(frame.with_columns(split=pl.lit(split)))
    return pl.concat(frames)


def joined(fields: tuple[str, ...]) -> pl.Expr:
    """A row's `fields` as one text, a line each (none: the empty text)."""
    return pl.concat_str([pl.col(f) for f in fields], separator="\n") if fields else pl.lit("")


def scan(run: RunDir, paths: list[str]) -> pl.LazyFrame:
    if run.local:
        return pl.scan_parquet(paths)
    return pl.scan_pyarrow_dataset(pads.dataset(paths, filesystem=run.fs, format="parquet"))


def _stored_embeddings(run: RunDir, ids: pa.Array) -> np.ndarray | None:
    found = [t.filter(pc.is_in(t["id"], ids)) for t in run.iter_parts(run.embeddings(), columns=["id", "embedding"])]
    found = pa.concat_tables(found) if found else None
    if found is None or found.num_rows < len(ids):
        return None
    order = pc.index_in(ids, found["id"]).to_numpy()
    return vectors(found)[order]


def from_file(path: Path, task: Task) -> Dataset:
    """A Parquet or JSONL file in the task's fields. `label` may be a number, a bool (BoolQ's JSONL) or a
    label name; a row without one (a test split) counts as unlabelled. `split`: reference.split_of."""
    named, labels = field_columns(task), list(task.label_names)
    fields = list(named.values())
    rows = read_rows(path, list(named))
    frame = pl.LazyFrame(
        {
            "id": [f"{path.name}:{k}" for k in range(len(rows))],
            "split": [split_of(r, path) for r in rows],
            "label": [_label(r.get("label"), labels, path, k) for k, r in enumerate(rows)],
            **{a: [r[f] or "" for r in rows] for f, a in named.items()},
        },
        schema={"id": pl.String, "split": pl.String, "label": pl.Int64, **dict.fromkeys(fields, pl.String)},
    )
    return Dataset("reference", frame, fields, None, len(rows))


def _label(value, labels: list[str], path: Path, k: int) -> int | None:
    if value is None or value == -1:
        return None
    if isinstance(value, bool | int) and 0 <= int(value) < len(labels):
        return int(value)
    if isinstance(value, str) and value in labels:
        return labels.index(value)
    raise SpecError(f"{path}: row {k + 1}: label {value!r} is not one of {labels} or their numbers")
