"""Steps 3 and 4 online vs on the Batch APIs, side by side: the same job (full-size BoolQ by default), the
same fake server settings (no latency, no rate limits, batches end at once), stage 5 on exact duplicates
only (both runs would embed the same rows).

Online: step 3 on OpenAI chat completions, step 4 on Anthropic messages. Batch: step 3 on OpenAI's Batch
API, step 4 on Anthropic's Message Batches. Steps 1-2 are online in both. Per run: rows per split, wall
time of steps 3 and 4, requests, USD of steps 3-4, peak memory (PSS) of the driver and of the driver plus
its local Ray; then batch / online for each. USD should be 0.5 (the batch discount, same tokens); wall
time is what the machinery costs here, where the fake answers batches at once (real batches take
minutes to hours).

    .venv/bin/python benchmarks/batch_vs_online.py [--job boolq] [--limit N] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import yaml
from full_size import ROOT, drive
from harness.process import FakeProcess

STEPS = ("generate", "correct")
POLL = {"poll_s": 1, "poll_max_s": 5}


def job_file(name: str, tmp: Path, batch: bool) -> Path:
    spec = yaml.safe_load((ROOT / "jobs" / f"{name}.yaml").read_text())
    spec["prompts"] = str((ROOT / "jobs" / spec["prompts"]).resolve())
    spec["dedup"] = {**spec.get("dedup", {}), "near": False}
    spec["steps"]["generate"]["endpoint"] = "writer_batch" if batch else "writer"
    spec["steps"]["correct"]["endpoint"] = "judge_batch" if batch else "judge"
    path = tmp / f"{name}-{'batch' if batch else 'online'}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def measure(name: str, limit: int | None, tmp: Path, batch: bool) -> dict:
    fake = FakeProcess(tmp)
    try:
        endpoints = fake.batch_endpoints(POLL, POLL, workers=2, max_concurrency=32, timeout_s=600)
        spec = yaml.safe_load(endpoints.read_text())  # the online judge: Anthropic messages, priced the same
        judge = spec["endpoints"]["judge_batch"]
        spec["endpoints"]["judge"] = {k: v for k, v in judge.items() if k not in ("mode", "batch")}
        endpoints.write_text(yaml.safe_dump(spec))
        wall, memory, summary = drive(job_file(name, tmp, batch), endpoints, tmp / f"run-{batch}", limit)
    finally:
        fake.stop()
    stages = summary["stages"]
    return {
        "mode": "batch" if batch else "online",
        "rows": {s: f"{v['rows']}/{v['target']}" for s, v in summary["splits"].items()},
        "counts_add_up": summary["rows"]["counts_add_up"],
        "wall_s": round(wall, 1),
        "steps_3_4_wall_s": round(sum(stages[s]["wall_s"] for s in STEPS), 1),
        "steps_3_4_requests": sum(stages[s]["requests"] for s in STEPS),
        "steps_3_4_usd": round(sum(stages[s]["usd"] for s in STEPS), 4),
        "peak_driver_mib": round(memory.driver_mib),
        "peak_total_mib": round(memory.total_mib),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--job", default="boolq")
    p.add_argument("--limit", type=int, help="rows in total (default: the job's full size)")
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for batch in (False, True):
            runs.append(measure(args.job, args.limit, Path(tmp), batch))
            print(json.dumps(runs[-1]), file=sys.stderr, flush=True)  # kept, should the other run fail
    online, batch = runs
    ratios = {
        k: round(batch[k] / online[k], 3) if online[k] else None
        for k in ("wall_s", "steps_3_4_wall_s", "steps_3_4_requests", "steps_3_4_usd", "peak_total_mib")
    }
    result = {"job": args.job, "limit": args.limit, "runs": runs, "batch / online": ratios}
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    sys.exit(0 if all(r["counts_add_up"] for r in runs) else 1)


if __name__ == "__main__":
    main()
