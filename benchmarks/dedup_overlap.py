"""Stage 5 behind a rate limit: how much a run's wall time exceeds its model calls' when step 4's rows
are embedded as it writes them (`dedup.overlap`, the default) and when stage 5 embeds them after it.

One fake server with latency and a per-key RPM limit that makes generation take minutes; BoolQ at
`--limit` rows as `targen run` (its own driver and local Ray), three ways side by side: overlapped,
after, and without embeddings (`dedup.near: false`: the same job with no near-duplicate pass, so no
embedding at all). Figures: wall time, the model-call stages' wall time (steps 1-4, from
summary.json), stage 5's wall time, and wall ÷ model-call wall.

    .venv/bin/python benchmarks/dedup_overlap.py [--limit 2000] [--rpm 1200]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import yaml
from full_size import drive
from harness.process import FakeProcess

from targen_ray.config import STEPS

ROOT = Path(__file__).resolve().parents[1]
WAYS = {"overlapped": {"overlap": True}, "after": {"overlap": False}, "no embeddings": {"near": False}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--limit", type=int, default=2000)
    p.add_argument("--rpm", type=int, default=1200, help="per endpoint (writer, judge); the key allows twice")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="targen-overlap-") as tmp:
        tmp = Path(tmp)
        fake = FakeProcess(tmp, "--latency-ms", "200", "800", "--rpm", str(2 * args.rpm), "--window-s", "10")
        try:
            endpoints = fake.endpoints(workers=2, max_concurrency=32, timeout_s=60, rpm=args.rpm)
            for way, dedup in WAYS.items():
                spec = yaml.safe_load((ROOT / "jobs" / "boolq.yaml").read_text())
                spec["prompts"] = str(ROOT / "prompts" / "boolq")
                spec["dedup"] = {**spec.get("dedup", {}), **dedup}
                job = tmp / f"{way.replace(' ', '-')}.yaml"
                job.write_text(yaml.safe_dump(spec))
                wall, memory, summary = drive(job, endpoints, tmp / job.stem, args.limit)
                calls = sum(summary["stages"][s]["wall_s"] for s in STEPS)
                result = {
                    "way": way,
                    "rows": sum(s["rows"] for s in summary["splits"].values()),
                    "exact": summary["complete"],
                    "requests": summary["requests"],
                    "wall_s": round(wall, 1),
                    "model_calls_s": round(calls, 1),
                    "stage5_s": summary["dedup"]["wall_s"],
                    "wall_over_calls": round(wall / calls, 3),
                    "dropped_near": summary["dedup"]["near"],
                    "peak_total_mib": round(memory.total_mib),
                }
                print(json.dumps(result), flush=True)
        finally:
            fake.stop()


if __name__ == "__main__":
    main()
