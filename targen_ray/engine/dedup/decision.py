"""Stage 5: which rows stage 4 kept survive exact dedup, near-duplicate filtering and decontamination.

Each row's embedding and MinHash signature are written once to 05_embeddings/ (only when near-duplicates
or references are on): while step 4 writes its rows (`live`), and by a Ray Data stage for any row not
embedded yet; the decision is then made afresh on every call over every
round's rows, with exact digests from one streamed pass over their text. So a row a later round
duplicates is compared with everything before it, a resumed run embeds only new rows, and changing the
dedup settings costs no request.

Duplicates form groups (connected components of duplicate pairs); each group keeps one row: the one
in the largest split (so cross-split duplicates are dropped from the smaller split and no validation
or test row survives beside a train row it duplicates), then one whose label survived
self-correction, then the lowest id. Rows near a reference row, or sharing a long n-gram with one, are
dropped first, so they cannot stand for a group.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import ray

from ...config import DedupSpec
from ..job import Job
from ..list_items import digests
from ..store import RunDir
from . import reference
from .embed import BLOCK_ROWS, embed, embed_parts, vectors
from .live import LiveEmbedding
from .minhash import PERMUTATIONS, signatures, similar_pairs
from .search import components, near_pairs
from .text import texts

DROPPED = pa.schema(
    [
        ("id", pa.string()),
        ("split", pa.string()),
        ("reason", pa.string()),  # exact | near | contaminated
        ("kept_id", pa.string()),  # the row kept in its place, or "<reference file>:<row>"
        ("similarity", pa.float32()),  # cosine of the two rows' embeddings
        ("cross_split", pa.bool_()),  # the kept row is in another split
    ]
)


def features(rows: pa.Table, names: list[str]) -> pa.Table:
    """(id, text, minhash) of stage-4 rows, for the embedding workers (which replace text by embedding)."""
    text = texts(rows["instance"], names)
    sig = pa.array(signatures(text).ravel())
    minhash = pa.FixedSizeListArray.from_arrays(sig, PERMUTATIONS)
    return pa.table({"id": rows["id"], "text": pa.array(text, pa.string()), "minhash": minhash})


def needs_embeddings(job: Job) -> bool:
    return job.spec.dedup.near or bool(job.spec.dedup.reference)


def live_embedding(job: Job, run: RunDir, round_id: str) -> LiveEmbedding | None:
    """What embeds step 4's rows of this round as they are written (`dedup.overlap`), if anything must."""
    if not (needs_embeddings(job) and job.spec.dedup.overlap):
        return None
    return LiveEmbedding(job, run, run.embeddings(), round_id, features)


def embed_new(job: Job, run: RunDir, round_ids: list[str]) -> int:
    """Embed the stage-4 rows of these rounds that have no features yet; returns how many."""
    d, made = job.spec.dedup, 0
    if not needs_embeddings(job):
        return 0
    transform = partial(features, names=job.task.text_fields)
    for round_id in round_ids:
        ids = [t["id"] for t in run.iter_parts(run.stage_dir("correct"), round_id, ["id"])]
        done = [t["id"] for t in run.iter_parts(run.embeddings(), round_id, ["id"])]
        if sum(map(len, ids)) > sum(map(len, done)):
            skip = pa.chunked_array(done, pa.string()).combine_chunks() if done else pa.array([], pa.string())
            corrected = run.parts(run.stage_dir("correct"), round_id)
            made += embed_parts(run, corrected, transform, skip, run.embeddings(), round_id, d)
    return made


def decide(job: Job, run: RunDir, sizes: dict[str, int]) -> pa.Table:
    """Every dropped row (schema DROPPED), written to 05_deduped/ in place of the last decision."""
    d = job.spec.dedup
    keys = run.read(run.stage_dir("correct"), columns=["id", "split", "corrected"])
    if keys is None:
        return DROPPED.empty_table()
    largest_first = {s: r for r, s in enumerate(sorted(sizes, key=lambda s: -sizes[s]))}
    rank = pa.array([largest_first[s] for s in keys["split"].to_pylist()], pa.int8())
    keys = keys.append_column("rank", rank)
    # Rows in keep-priority order: the first row of each group is the one it keeps.
    keys = keys.take(pc.sort_indices(keys, [("rank", "ascending"), ("corrected", "ascending"), ("id", "ascending")]))
    ref = reference.load(job.references, job.task.text_fields)
    grams = reference.NgramIndex(ref.texts, d.ngram) if ref is not None and d.ngram else None
    digest, shared = _scan(job, run, keys["id"], grams)
    x, sig = None, None
    if needs_embeddings(job):
        feats = run.read(run.embeddings(), columns=["id", "minhash", "embedding"])
        feats = feats.take(pc.index_in(keys["id"], feats["id"]))
        x, sig = vectors(feats), feats["minhash"].combine_chunks().values.to_numpy().reshape(-1, PERMUTATIONS)

    dirty, ref_id, ref_sim = _contaminated(job, run, ref, x, shared)
    group = duplicate_groups(d, x, digest, sig, np.flatnonzero(~dirty))
    dup = np.flatnonzero(group != np.arange(len(group)))
    kept, gone = group[dup], np.flatnonzero(dirty)
    rows, rank = np.r_[gone, dup], keys["rank"].to_numpy()
    dropped = pa.table(
        {
            "id": keys["id"].take(rows),
            "split": keys["split"].take(rows),
            "reason": ["contaminated"] * len(gone) + np.where(digest[dup] == digest[kept], "exact", "near").tolist(),
            "kept_id": ref_id + keys["id"].take(kept).to_pylist(),
            "similarity": np.r_[ref_sim, _cosines(x, dup, kept)].astype(np.float32),
            "cross_split": np.r_[np.zeros(len(gone), bool), rank[dup] != rank[kept]],
        },
        schema=DROPPED,
    )
    out = run.rewrite(run.stage_dir("dedup"))  # each dropped row with the row (or reference row) it duplicated
    out.write("", dropped)
    out.commit()
    return dropped


def _scan(job: Job, run: RunDir, ids: pa.ChunkedArray, grams: reference.NgramIndex | None):
    """One pass over the rows' text, a row group at a time: each row's exact-pass key (its normalised
    text fields, hashed) and the reference row it shares a long n-gram with (-1: none), in `ids` order."""
    names = job.task.text_fields
    digest, shared = np.zeros(len(ids), np.uint64), np.full(len(ids), -1, np.int64)
    for part in run.iter_parts(run.stage_dir("correct"), columns=["id", "instance"]):
        text, at = texts(part["instance"], names), pc.index_in(part["id"], ids).to_numpy()
        digest[at] = digests(pa.array(text, pa.string()))
        if grams is not None:
            shared[at] = [grams.shared(t) for t in text]
    return digest, shared


def _cosines(x: np.ndarray | None, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine of rows a and b (exact copies: 1 without embeddings)."""
    return np.einsum("ij,ij->i", x[a], x[b]) if x is not None else np.ones(len(a), np.float32)


def duplicate_groups(d: DedupSpec, x: np.ndarray | None, digest: np.ndarray, sig: np.ndarray | None, active):
    """Each row's group: the first row (in keep-priority order) it is joined to by a chain of duplicate
    pairs among the `active` rows (exact digests, embedding cosine, MinHash), or itself."""
    pairs = [(np.zeros(0, np.int64),) * 2]
    if d.exact:
        order = active[np.argsort(digest[active], kind="stable")]
        same = digest[order[1:]] == digest[order[:-1]]
        pairs.append((order[:-1][same], order[1:][same]))
    if d.near:
        for i, j, _ in (near_pairs(x[active], d.threshold), similar_pairs(sig[active], d.minhash_threshold)):
            pairs.append((active[i], active[j]))
    return components(len(digest), np.concatenate([p[0] for p in pairs]), np.concatenate([p[1] for p in pairs]))


def _contaminated(job: Job, run: RunDir, ref: reference.Reference | None, x: np.ndarray | None, shared: np.ndarray):
    """Which rows are near a reference row or share a long n-gram (`shared`) with one: a mask, and for
    the rows it marks, the reference row's id and the cosine to it."""
    if ref is None:
        return np.zeros(len(shared), bool), [], np.zeros(0, np.float32)
    ref_x = _reference_vectors(job, run, ref)
    best, sim = reference.nearest(x, ref_x)
    dirty = sim >= job.spec.dedup.threshold if job.spec.dedup.near else np.zeros(len(x), bool)
    by_ngram = ~dirty & (shared >= 0)
    best[by_ngram], dirty = shared[by_ngram], dirty | by_ngram
    marked = np.flatnonzero(dirty)
    return dirty, [ref.ids[k] for k in best[marked]], np.einsum("ij,ij->i", x[marked], ref_x[best[marked]])


def _reference_vectors(job: Job, run: RunDir, ref: reference.Reference) -> np.ndarray:
    """The reference rows' embeddings, made once per run dir and reference content."""
    name = run.reference_vectors(ref.key)
    table = run.read(name)
    if table is None:
        d = job.spec.dedup
        rows = pa.table({"id": ref.ids, "text": ref.texts})
        ds = ray.data.from_arrow([rows.slice(i, BLOCK_ROWS) for i in range(0, rows.num_rows, BLOCK_ROWS)])
        batches = embed(ds, rows.num_rows, d).iter_batches(batch_size=None, batch_format="pyarrow")
        table = pa.concat_tables(list(batches))
        run.write_part(name, "ref", table)
    return vectors(table.take(pc.index_in(pa.array(ref.ids), table["id"])))
