"""The `targen` command. Thin: parses arguments, calls the library, turns known errors into one line."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .spec import SpecError

EXAMPLES = {
    "run": "example:\n  targen run jobs/boolq.yaml --limit 40\n"
    "  targen run jobs/boolq.yaml --endpoints jobs/endpoints/fake.yaml --run-dir runs/boolq-fake",
    "estimate": "example:\n  targen estimate jobs/boolq.yaml --endpoints jobs/endpoints/openai.yaml",
    "fake-server": "example:\n  targen fake-server --port 8999 --wrong-label-rate 0.2 &\n"
    "  FAKE_API_KEY=x targen run jobs/boolq.yaml --endpoints jobs/endpoints/fake.yaml --limit 200",
}


def _parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    p = argparse.ArgumentParser(
        prog="targen",
        description="Generate a labelled dataset from a task description with TarGEN, on Ray.",
        epilog="example:\n  targen run jobs/boolq.yaml --limit 40",
        formatter_class=fmt,
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="run a job: contexts -> seeds -> label-constrained generation -> self-correction -> splits",
        description="Run the four TarGEN steps as Ray stages; write RUN_DIR/final/{train,validation,test}.",
        epilog=EXAMPLES["run"],
        formatter_class=fmt,
    )
    run.add_argument("job", help="job YAML, e.g. jobs/boolq.yaml")
    run.add_argument("--endpoints", help="endpoints YAML (default: endpoints/local.yaml next to the job)")
    run.add_argument("--limit", type=int, help="scale all splits down proportionally to N rows in total")
    run.add_argument(
        "--run-dir", help="where to write the run (default: runs/NAME-TIMESTAMP); an existing run there is continued"
    )

    est = sub.add_parser(
        "estimate",
        help="print requests, tokens, USD and the time rate limits imply, without calling any model",
        description="Estimate a job per step from its own templates, sizes, prices and rate limits.",
        epilog=EXAMPLES["estimate"],
        formatter_class=fmt,
    )
    est.add_argument("job", help="job YAML, e.g. jobs/boolq.yaml")
    est.add_argument("--endpoints", help="endpoints YAML (default: endpoints/local.yaml next to the job)")
    est.add_argument("--limit", type=int, help="estimate for N rows in total instead of the full size")
    est.add_argument("--json", action="store_true", help="print JSON instead of a table")

    fake = sub.add_parser(
        "fake-server",
        help="serve a fake OpenAI/Anthropic API on loopback for tests and offline runs",
        description="A task-aware fake provider: OpenAI chat completions and Anthropic messages.",
        epilog=EXAMPLES["fake-server"],
        formatter_class=fmt,
    )
    fake.add_argument("--host", default="127.0.0.1")
    fake.add_argument("--port", type=int, default=8999)
    fake.add_argument("--wrong-label-rate", type=float, default=0.15, help="share of planted wrong labels")
    fake.add_argument("--duplicate-rate", type=float, default=0.1, help="share of near-duplicate seeds")
    fake.add_argument("--latency-ms", type=float, nargs=2, default=(0.0, 0.0), metavar=("LOW", "HIGH"))
    fake.add_argument("--invalid-key", action="append", default=[], help="answer this key with 401")
    fake.add_argument("--error-rate", type=float, default=0.0, help="share of requests answered 500")
    fake.add_argument("--rpm", type=int, help="requests per minute allowed per key (429 beyond)")
    fake.add_argument("--tpm", type=int, help="tokens per minute allowed per key (429 beyond)")
    fake.add_argument("--window-s", type=float, default=10.0, help="sliding window the limits are enforced over")
    return p


def _run(args: argparse.Namespace) -> int:
    from . import job as job_mod
    from .runner import RunError, run
    from .store import RunDirError

    job = job_mod.load(args.job, args.endpoints)
    _check_limit(args.limit)
    run_dir = Path(args.run_dir or f"runs/{job.spec.name}-{time.strftime('%Y%m%d-%H%M%S')}")
    try:
        summary = run(job, str(run_dir), args.limit)
    except RunDirError as e:
        raise SpecError(f"--run-dir: {e}") from None
    except (RunError, OSError) as e:
        print(f"targen: error: {e}", file=sys.stderr)
        return 1
    sizes = ", ".join(f"{s} {v['rows']}/{v['target']}" for s, v in summary["splits"].items())
    print(f"dataset: {run_dir / 'final'} ({sizes})")
    print(f"summary: {run_dir / 'summary.json'}")
    if summary["stopped"]:
        print(f"targen: stopped: {summary['stopped']}; what was paid for is in {run_dir}", file=sys.stderr)
        return 3
    if not summary["complete"]:
        print(
            f"targen: warning: quotas not met after {summary['rounds']} rounds; see summary.json",
            file=sys.stderr,
        )
    return 0


def _estimate(args: argparse.Namespace) -> int:
    import json

    from . import job as job_mod
    from .estimate import estimate, table

    job = job_mod.load(args.job, args.endpoints, check_keys=False)
    _check_limit(args.limit)
    result = estimate(job, args.limit)
    print(json.dumps(result, indent=2) if args.json else table(result))
    return 0


def _check_limit(limit: int | None) -> None:
    if limit is not None and limit < 1:
        raise SpecError(f"--limit: expected a positive number of rows, got {limit}")


def _fake_server(args: argparse.Namespace) -> int:
    from .fake.content import ContentConfig
    from .fake.ratelimit import Limits
    from .fake.server import FakeConfig, serve

    config = FakeConfig(
        content=ContentConfig(wrong_label_rate=args.wrong_label_rate, duplicate_rate=args.duplicate_rate),
        limits=Limits(rpm=args.rpm, tpm=args.tpm, window_s=args.window_s),
        latency_ms=tuple(args.latency_ms),
        invalid_keys=frozenset(args.invalid_key),
        error_rate=args.error_rate,
    )
    serve(args.host, args.port, config)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return {"run": _run, "estimate": _estimate, "fake-server": _fake_server}[args.command](args)
    except SpecError as e:
        print(f"targen: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
