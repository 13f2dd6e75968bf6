"""Near-duplicate search over 1,000,000 x 384 unit vectors: wall time and recall against exact search.

Synthetic, shaped like sentence embeddings of one task: rows scattered around a few thousand topic
centres (same-topic rows at cosine ~0.5-0.8), plus planted near-duplicates of random rows at cosines
from 0.86 to 0.99. Recall = the pairs `near_pairs` finds for a sample of query rows ÷ the pairs an
exact flat search finds for the same rows.

    .venv/bin/python benchmarks/near_dup_search.py [--rows 1000000] [--threshold 0.9] [--neighbours 8]
"""

from __future__ import annotations

import argparse
import json
import time

import faiss
import numpy as np

from targen_ray.engine.dedup.search import near_pairs


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def corpus(rows: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    topics = unit(rng.standard_normal((max(rows // 500, 10), dim)))
    base_rows = rows - rows // 20
    x = topics[rng.integers(0, len(topics), base_rows)] + 0.9 * unit(rng.standard_normal((base_rows, dim)))
    x = unit(x)
    # 5% planted near-duplicates: noise scaled so cosines spread over ~0.86-0.99
    src = rng.integers(0, base_rows, rows - base_rows)
    scale = rng.uniform(0.15, 0.6, (len(src), 1)).astype(np.float32)
    dups = unit(x[src] + scale * unit(rng.standard_normal((len(src), dim))))
    return np.vstack([x, dups])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--dim", type=int, default=384)
    p.add_argument("--threshold", type=float, default=0.9)
    p.add_argument("--neighbours", type=int, default=8)
    p.add_argument("--sample", type=int, default=2000)
    args = p.parse_args()
    rng = np.random.default_rng(0)
    x = corpus(args.rows, args.dim, rng)
    started = time.monotonic()
    i, j, s = near_pairs(x, args.threshold, neighbours=args.neighbours)
    wall = time.monotonic() - started
    # exact pairs of a sample of rows, against every row
    queries = rng.choice(len(x), args.sample, replace=False)
    flat = faiss.IndexFlatIP(args.dim)
    flat.add(x)
    lims, _, ids = flat.range_search(x[queries], args.threshold)
    truth = {
        (min(q, int(t)), max(q, int(t))) for k, q in enumerate(queries) for t in ids[lims[k] : lims[k + 1]] if t != q
    }
    found = set(zip(i.tolist(), j.tolist(), strict=True))
    hit = sum(pair in found for pair in truth)
    print(
        json.dumps(
            {
                "rows": len(x),
                "dim": args.dim,
                "threshold": args.threshold,
                "neighbours": args.neighbours,
                "threads": faiss.omp_get_max_threads(),
                "pairs": len(i),
                "wall_s": round(wall, 1),
                "sample_true_pairs": len(truth),
                "recall": round(hit / max(len(truth), 1), 4),
            }
        )
    )


if __name__ == "__main__":
    main()
