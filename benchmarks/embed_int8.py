"""int8 embeddings on CPU: all-MiniLM-L6-v2 as stage 5 loads it (float32) ÷ the same model with its
Linear layers quantised to int8 by torch's dynamic quantisation, on the same texts in one run: texts/s,
how close the int8 embeddings are, and the planted-duplicate filter's precision and recall with each.

    .venv/bin/python benchmarks/embed_int8.py [--distinct 1000] [--copies 80]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pyarrow as pa
import torch

from targen_ray.dedup import embed
from targen_ray.dedup.minhash import signatures
from targen_ray.dedup.stage import duplicate_groups
from targen_ray.dedup.text import text_fields, texts
from targen_ray.fake.duplicates import planted
from targen_ray.items import digests
from targen_ray.spec import DedupSpec
from targen_ray.tasks import get_task


def encode(model, items: list[str]) -> tuple[float, np.ndarray]:
    started = time.monotonic()
    x = model.encode(items, batch_size=embed.ENCODE_BATCH, normalize_embeddings=True, convert_to_numpy=True)
    return len(items) / (time.monotonic() - started), x


def quality(rows: list[dict], kinds: dict[str, str], text: list[str], x: np.ndarray) -> dict:
    everyone = np.arange(len(rows))
    group = duplicate_groups(DedupSpec(), x, digests(pa.array(text)), signatures(text), everyone)
    ids = np.array([r["id"] for r in rows])
    dropped = set(ids[group != everyone].tolist())
    found = dropped & set(kinds)
    return {"precision": round(len(found) / max(len(dropped), 1), 3), "recall": round(len(found) / len(kinds), 3)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--distinct", type=int, default=1000)
    p.add_argument("--copies", type=int, default=80)
    args = p.parse_args()
    torch.set_num_threads(2)
    fp32 = embed.load_model()
    int8 = embed.load_model()
    int8[0].model = torch.ao.quantization.quantize_dynamic(int8[0].model, {torch.nn.Linear}, torch.qint8)
    for task in ("boolq", "record"):
        rows, kinds = planted(task, args.distinct, args.copies)
        text = texts(pa.array([r["instance"] for r in rows]), text_fields(get_task(task)))
        rate32, x = encode(fp32, text)
        rate8, y = encode(int8, text)
        result = {
            "task": task,
            "n": len(text),
            "fp32_per_s": round(rate32, 1),
            "int8_per_s": round(rate8, 1),
            "speedup": round(rate8 / rate32, 3),
            "min_cosine_fp32_int8": round(float(np.einsum("ij,ij->i", x, y).min()), 4),
            "fp32": quality(rows, kinds, text, x),
            "int8": quality(rows, kinds, text, y),
        }
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
