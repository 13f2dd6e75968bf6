"""`targen evaluate` at full size: wall time, peak memory and scores of each model kind, side by side.

Makes a full-size run of a job (default BoolQ) through the fake server (no latency, no rate limits;
`targen run --no-analyze`; `--exact-dedup-only` skips stage 5's embeddings, which evaluate does not
need), unless `--run-dir` holds a finished one (else it is made there). Then runs `targen evaluate
RUN_DIR --model M` as its own process for each model kind, measuring wall time and peak PSS (the
first one also makes the report it joins: that is measured apart, as `targen analyze`). A run of a
task without labels (ReCoRD, manual_qa) has one kind: the span baseline.

    .venv/bin/python benchmarks/evaluate_models.py [--job boolq] [--exact-dedup-only] [--run-dir RUN_DIR]
        [--models tfidf embedding] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from harness.process import FakeProcess, MemoryPeak

from analysis.dataset import run_task
from targen_ray.engine.store import RUN_FILE, RunDir

ROOT = Path(__file__).resolve().parents[1]


def make_run(tmp: Path, run_dir: Path, name: str, exact_only: bool) -> None:
    job = ROOT / "jobs" / f"{name}.yaml"
    if exact_only:
        spec = yaml.safe_load(job.read_text())
        spec["prompts"] = str((job.parent / spec["prompts"]).resolve())
        spec["dedup"] = {**spec.get("dedup", {}), "near": False}
        job = tmp / f"{name}.yaml"
        job.write_text(yaml.safe_dump(spec))
    fake = FakeProcess(tmp)
    try:
        endpoints = fake.endpoints(writer="openai", judge="openai", workers=2, max_concurrency=32, timeout_s=60)
        cmd = ["run", str(job), "--endpoints", str(endpoints), "--run-dir", str(run_dir)]
        got = measured(cmd + ["--no-analyze"], {"RAY_ADDRESS": "", "FAKE_API_KEY": "sk-bench"})
        print(json.dumps({"step": f"targen run {name}", "wall_s": got["wall_s"]}), flush=True)
    finally:
        fake.stop()


def measured(args: list[str], env: dict | None = None) -> dict:
    """`targen ARGS` as its own process: wall time and peak PSS (of it and anything it starts)."""
    cmd = [sys.executable, "-m", "targen_ray", *args]
    started = time.monotonic()
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env={**os.environ, **(env or {})}, start_new_session=True, stdout=subprocess.PIPE, text=True
    )
    memory = MemoryPeak(proc.pid)
    out, _ = proc.communicate()
    memory.stop()
    if proc.returncode != 0:
        raise SystemExit(f"targen {' '.join(args)}: exit {proc.returncode}")
    return {"wall_s": round(time.monotonic() - started, 1), "peak_mib": round(memory.total_mib), "stdout": out}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--job", default="boolq", help="the job (jobs/NAME.yaml) made at full size")
    p.add_argument("--exact-dedup-only", action="store_true", help="make it without stage 5's embeddings")
    p.add_argument("--run-dir", help="a finished run to evaluate, or where to make one of --job (default: a temporary)")
    p.add_argument("--models", nargs="+", default=["tfidf", "embedding"])
    p.add_argument("--out", help="also write the results as JSON here")
    args = p.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="targen-eval-") as tmp:
        run_dir = Path(args.run_dir or Path(tmp) / args.job)
        if not (run_dir / RUN_FILE).exists():
            make_run(Path(tmp), run_dir, args.job, args.exact_dedup_only)
        report = Path(tmp) / "report"
        analysis = measured(["analyze", str(run_dir), "--out", str(report)])
        results.append(
            {"step": "analyze (the report evaluate joins)", **{k: analysis[k] for k in ("wall_s", "peak_mib")}}
        )
        print(json.dumps(results[-1]), flush=True)
        spans = run_task(RunDir(str(run_dir))).span_answer is not None  # one kind: the span baseline
        for model in [None] if spans else args.models:
            kind = ["--model", model] if model else []
            got = measured(["evaluate", str(run_dir), *kind, "--out", str(report)])
            evaluation = json.loads((report / "metrics.json").read_text())["evaluation"]
            results.append(
                {
                    "model": evaluation["model"],
                    "wall_s": got["wall_s"],
                    "inside_s": evaluation["wall_s"],
                    "peak_mib": got["peak_mib"],
                    "pairs": [
                        {
                            "train": e["train"],
                            "test": e["test"],
                            "rows": [e["train_rows"], e["test_rows"]],
                            "chance": e["chance"],
                            "scores": e.get("scores"),
                        }
                        for e in evaluation["pairs"]
                    ],
                }
            )
            print(json.dumps(results[-1]), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
