"""Stage 5's embedding backends side by side in one run (`dedup.encoders`): texts/s with 2 threads,
how close each one's vectors are to float32 torch's (sentence-transformers, the reference), and stage
5's precision and recall on planted duplicates at the default threshold (exact + cosine + MinHash, as
`dedup.decision.duplicate_groups` decides), on BoolQ and ReCoRD rows as the fake writes them.

    .venv/bin/python benchmarks/embed_backends.py [--distinct 1000] [--copies 80]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pyarrow as pa
from dedup_quality import scores

from targen_ray.config import DedupSpec
from targen_ray.engine.dedup import encoders
from targen_ray.engine.dedup.decision import duplicate_groups
from targen_ray.engine.dedup.minhash import signatures
from targen_ray.engine.dedup.text import texts
from targen_ray.engine.list_items import digests
from targen_ray.engine.tasks import get_task
from targen_ray.fake.duplicates import planted


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--distinct", type=int, default=1000)
    p.add_argument("--copies", type=int, default=80, help="copies of each kind")
    args = p.parse_args()
    models = {b: encoders.encoder(b, 2) for b in ("torch", *(b for b in encoders.BACKENDS if b != "torch"))}
    for task in ("boolq", "record"):
        rows, kinds = planted(task, args.distinct, args.copies)
        text = texts(pa.array([r["instance"] for r in rows]), get_task(task).text_fields)
        digest, sig = digests(pa.array(text)), signatures(text)
        ids, everyone = np.array([r["id"] for r in rows]), np.arange(len(rows))
        reference, torch_rate = None, None
        for backend, model in models.items():
            model.encode(text[:64])  # warm: first calls allocate
            started = time.monotonic()
            x = model.encode(text)
            rate = len(text) / (time.monotonic() - started)
            reference, torch_rate = (x, rate) if backend == "torch" else (reference, torch_rate)
            cosine = np.einsum("ij,ij->i", x, reference)
            group = duplicate_groups(DedupSpec(), x, digest, sig, everyone)
            quality = scores(kinds, set(ids[group != everyone].tolist()))
            result = {
                "task": task,
                "backend": backend,
                "n": len(text),
                "texts_per_s": round(rate, 1),
                "vs_torch": round(rate / torch_rate, 2),
                "min_cosine": round(float(cosine.min()), 5),
                "p1_cosine": round(float(np.percentile(cosine, 1)), 5),
                "precision": quality["precision"],
                "recall": quality["recall"],
            }
            print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
