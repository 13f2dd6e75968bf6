"""Embedding throughput: the Ray Data stage (`dedup.embed`, one worker holding both cores) ÷ a bare
`encode` of the same backend (default: stage 5's) on the same texts, same machine, same run.

Two stage figures: *cold*, on a fresh actor pool (what a full-size round pays: process start, torch
import and model load are in the time), and *warm*, as tasks in a pooled Ray worker that already
holds the model (what a later round or a small stage pays).

Texts: the fake server's ReCoRD passages (~245 words, cut by the model at 256 word pieces) and BoolQ
passages (~70 words).

    .venv/bin/python benchmarks/embed_throughput.py [--long 2000] [--short 5000] [--backend openvino]
"""

from __future__ import annotations

import argparse
import json
import random
import time

import numpy as np
import pyarrow as pa
import ray

from targen_ray.config import DedupSpec
from targen_ray.engine.dedup import embed, encoders
from targen_ray.fake.tasks import modules


def texts(task: str, n: int) -> list[str]:
    rng = random.Random(0)
    fake = modules()[task]
    return [fake.seed(rng, f"setting {i % 97}") for i in range(n)]


def bare(model, items: list[str]) -> tuple[float, np.ndarray]:
    started = time.monotonic()
    x = model.encode(items)
    return len(items) / (time.monotonic() - started), x


def stage(items: list[str], pool: bool, backend: str) -> tuple[float, np.ndarray]:
    """Texts/s of the stage: on an actor pool, or (pool False) as tasks."""
    table = pa.table({"id": [f"r{i:08d}" for i in range(len(items))], "text": items})
    blocks = [table.slice(i, embed.BLOCK_ROWS) for i in range(0, table.num_rows, embed.BLOCK_ROWS)]
    embed.ACTOR_POOL_FROM = 0 if pool else table.num_rows + 1
    started = time.monotonic()
    out = embed.embed(
        ray.data.from_arrow(blocks), table.num_rows, DedupSpec(backend=backend, workers=1, worker_cpus=2)
    ).to_arrow_refs()
    result = pa.concat_tables(ray.get(out)).sort_by("id")
    return len(items) / (time.monotonic() - started), embed.vectors(result)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--long", type=int, default=2000)
    p.add_argument("--short", type=int, default=5000)
    p.add_argument("--backend", choices=encoders.BACKENDS, default=encoders.BACKENDS[0])
    args = p.parse_args()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    model = encoders.encoder(args.backend, 2)
    for name, items in [
        ("record passages", texts("record", args.long)),
        ("boolq passages", texts("boolq", args.short)),
    ]:
        bare_rate, x = bare(model, items)
        cold, y = stage(items, pool=True, backend=args.backend)
        stage(items[:64], pool=False, backend=args.backend)  # loads the model into a pooled worker
        warm, z = stage(items, pool=False, backend=args.backend)
        result = {
            "texts": name,
            "n": len(items),
            "bare_per_s": round(bare_rate, 1),
            "cold_stage_per_s": round(cold, 1),
            "warm_stage_per_s": round(warm, 1),
            "cold_ratio": round(cold / bare_rate, 3),
            "warm_ratio": round(warm / bare_rate, 3),
            "max_abs_diff": float(max(np.abs(x - y).max(), np.abs(x - z).max())),
        }
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
