"""Embedding throughput: the Ray Data stage (`dedup.embed`, one actor holding both cores) ÷ a bare
`SentenceTransformer.encode` on the same texts, same machine, same run.

Texts: the fake server's ReCoRD passages (~245 words, cut by the model at 256 word pieces) and BoolQ
passages (~70 words).

    .venv/bin/python benchmarks/embed_throughput.py [--long 2000] [--short 5000]
"""

from __future__ import annotations

import argparse
import json
import random
import time

import numpy as np
import pyarrow as pa
import ray

from targen_ray.dedup import embed
from targen_ray.fake.tasks import modules


def texts(task: str, n: int) -> list[str]:
    rng = random.Random(0)
    fake = modules()[task]
    return [fake.seed(rng, f"setting {i % 97}") for i in range(n)]


def bare(model, items: list[str]) -> tuple[float, np.ndarray]:
    started = time.monotonic()
    x = model.encode(items, batch_size=embed.ENCODE_BATCH, normalize_embeddings=True, convert_to_numpy=True)
    return len(items) / (time.monotonic() - started), x


def stage(items: list[str]) -> tuple[float, np.ndarray]:
    table = pa.table({"id": [f"r{i:08d}" for i in range(len(items))], "text": items})
    started = time.monotonic()
    out = embed.embed(ray.data.from_arrow(table), table.num_rows, actors=1, cpus_per_actor=2).to_arrow_refs()
    result = pa.concat_tables(ray.get(out)).sort_by("id")
    return len(items) / (time.monotonic() - started), embed.vectors(result)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--long", type=int, default=2000)
    p.add_argument("--short", type=int, default=5000)
    args = p.parse_args()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    model = embed.load_model()
    for name, items in [
        ("record passages", texts("record", args.long)),
        ("boolq passages", texts("boolq", args.short)),
    ]:
        bare_rate, x = bare(model, items)
        stage_rate, y = stage(items)
        print(
            json.dumps(
                {
                    "texts": name,
                    "n": len(items),
                    "bare_per_s": round(bare_rate, 1),
                    "stage_per_s": round(stage_rate, 1),
                    "ratio": round(stage_rate / bare_rate, 3),
                    "max_abs_diff": float(np.abs(x - y).max()),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
