"""One judge against a panel of three: how often the published labels are right, and what step 4 costs.

The fake plants wrong labels in `--wrong` of step 3's instances and makes each judge model name a wrong
label in `--judge-error` of its verdicts (drawn per model, so the judges err independently). The same
BoolQ job runs twice on the same fake (same rows from step 3, as the fake answers by prompt and seed):
step 4 by `judge_a` alone, then by the panel judge_a, judge_b, judge_c voting by majority. Reported:
final rows whose label is not the fake's ground truth (`fake.tasks.boolq.truth_of`), step 4's requests
and USD, and the panel's agreement figures. In the driver (`in_driver`): label quality, not throughput.

    .venv/bin/python benchmarks/judge_panel.py [--rows 2000] [--wrong 0.2] [--judge-error 0.15]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import pyarrow.parquet as pq
from harness.process import FakeProcess, with_panel

from targen_ray.config import SPLITS
from targen_ray.engine import job as job_mod
from targen_ray.engine.cluster import ensure_ray
from targen_ray.engine.runner import run
from targen_ray.engine.store import RunDir
from targen_ray.fake.tasks.boolq import truth_of

ROOT = Path(__file__).resolve().parents[1]
JUDGES = {"judge_a": "judge-a", "judge_b": "judge-b", "judge_c": "judge-c"}
PRICE = {"input": 2.50, "output": 10.00}  # every endpoint at the judge price of jobs/endpoints/fake.yaml


def wrong_labels(run_dir: Path) -> tuple[int, int]:
    """(final rows, final rows whose label is not the fake's ground truth)."""
    rows = [
        r
        for split in SPLITS
        for part in sorted((run_dir / RunDir.final(split)).glob("*.parquet"))
        for r in pq.read_table(part, columns=["passage", "question", "label"]).to_pylist()
    ]
    return len(rows), sum(truth_of(r["passage"], r["question"]) != bool(r["label"]) for r in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--wrong", type=float, default=0.2)
    parser.add_argument("--judge-error", type=float, default=0.15)
    args = parser.parse_args()
    os.environ.setdefault("FAKE_API_KEY", "sk-bench-fake-0123456789")
    ensure_ray(False)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rates = [a for model in JUDGES.values() for a in ("--judge-error-rate", f"{model}={args.judge_error}")]
        fake = FakeProcess(folder, "--wrong-label-rate", str(args.wrong), *rates)
        try:
            endpoints = fake.endpoints(writer="openai", judge="openai", judges=JUDGES, price=PRICE)
            out = {"rows": args.rows, "wrong_label_rate": args.wrong, "judge_error_rate": args.judge_error}
            for name, judges in (("one_judge", ["judge_a"]), ("panel_of_three", list(JUDGES))):
                job = job_mod.load(with_panel(ROOT / "jobs" / "boolq.yaml", folder, judges), endpoints)
                summary = run(job, str(folder / name), limit=args.rows, in_driver=True)
                rows, wrong = wrong_labels(folder / name)
                step4 = summary["stages"]["correct"]
                out[name] = {
                    "final_rows": rows,
                    "wrong_labels": wrong,
                    "label_error": round(wrong / max(rows, 1), 4),
                    "step4_requests": step4["requests"],
                    "step4_usd": step4["usd"],
                    "run_usd": summary["usd"],
                    "panel": summary["panel"],
                }
            one, three = out["one_judge"], out["panel_of_three"]
            out["error_ratio_panel_vs_one"] = round(three["label_error"] / max(one["label_error"], 1e-9), 3)
            out["step4_cost_ratio"] = round(three["step4_usd"] / max(one["step4_usd"], 1e-9), 3)
            out["step4_request_ratio"] = round(three["step4_requests"] / max(one["step4_requests"], 1), 3)
            print(json.dumps(out, indent=2))
        finally:
            fake.stop()


if __name__ == "__main__":
    main()
