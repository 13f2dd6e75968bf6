"""Quality of stage 5's duplicate filter on planted duplicates, swept over the cosine threshold: the
fake's distinct rows plus copies of some of them made verbatim, by a light edit and by a
paraphrase-style rewrite (`targen_ray.fake.duplicates`). A dropped copy is a true positive, a dropped
original or distinct row a false positive, a copy kept a miss.

    .venv/bin/python benchmarks/dedup_quality.py [--distinct 2000] [--copies 150] [--backend openvino]
"""

from __future__ import annotations

import argparse
import json
from collections import Counter

import numpy as np
import pyarrow as pa

from targen_ray.config import DedupSpec
from targen_ray.engine.dedup import encoders
from targen_ray.engine.dedup.decision import duplicate_groups
from targen_ray.engine.dedup.minhash import signatures
from targen_ray.engine.dedup.text import texts
from targen_ray.engine.list_items import digests
from targen_ray.engine.tasks import get_task
from targen_ray.fake.duplicates import KINDS, planted

THRESHOLDS = (0.8, 0.85, 0.875, 0.9, 0.925, 0.95, 0.975)


def scores(kinds: dict[str, str], dropped: set[str]) -> dict:
    copies = set(kinds)
    tp, fp = len(dropped & copies), len(dropped - copies)
    found = Counter(kinds[i] for i in dropped & copies)
    recall = {k: found[k] / list(kinds.values()).count(k) for k in KINDS}
    return {
        "precision": round(tp / max(tp + fp, 1), 3),
        "recall": round(tp / len(copies), 3),
        "false_positives": fp,
        **{f"recall_{k.replace(' ', '_')}": round(v, 3) for k, v in recall.items()},
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--distinct", type=int, default=2000)
    p.add_argument("--copies", type=int, default=150, help="copies of each kind")
    p.add_argument("--backend", choices=encoders.BACKENDS, default=encoders.BACKENDS[0])
    args = p.parse_args()
    model = encoders.encoder(args.backend, 2)
    for task in ("boolq", "record"):
        rows, kinds = planted(task, args.distinct, args.copies)
        text = texts(pa.array([r["instance"] for r in rows]), get_task(task).text_fields)
        x = model.encode(text)
        digest, sig = digests(pa.array(text)), signatures(text)
        ids = np.array([r["id"] for r in rows])  # sorted: originals first, so the keep rule keeps them
        everyone = np.arange(len(rows))
        unique = np.arange(sig.size, dtype=np.uint32).reshape(sig.shape)  # signatures no two rows share
        for cosine in THRESHOLDS:
            for minhash in (False, True):
                group = duplicate_groups(DedupSpec(threshold=cosine), x, digest, sig if minhash else unique, everyone)
                dropped = set(ids[group != everyone].tolist())
                row = {"task": task, "threshold": cosine, "minhash": minhash, **scores(kinds, dropped)}
                print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
