"""What each `targen` command does with its parsed arguments: one library call (api.py, or the module
that owns the command), then what it prints. The table of commands and their arguments is cli.py."""

from __future__ import annotations

import argparse
import sys

from ..engine.store import RUN_FILE, RunDir
from ..errors import SpecError
from . import api


def run(args: argparse.Namespace) -> int:
    force = (args.force or "").split(",")
    planned = api.plan_run(args.job, args.endpoints, args.run_dir, args.limit, force, args.in_driver)
    return _finish(planned, analyze=not args.no_analyze)


def retry_rejects(args: argparse.Namespace) -> int:
    return _finish(api.plan_retry(args.run_dir, args.steps.split(","), args.job, args.endpoints))


def _finish(planned: api.Planned, analyze: bool = True) -> int:
    """Run it with the terminal kept for targen's own lines, report where the dataset is (and analyse
    it), and turn known failures into one line and an exit status."""
    from ..errors import RunDirError, RunError
    from ..fake.rehearsal import note
    from .terminal import quiet

    if rehearsal := note(planned.job):
        print(f"targen: {rehearsal}", file=sys.stderr)
    run_dir = planned.run_dir
    try:
        with quiet(RunDir(run_dir)) as log:  # Ray's and the libraries' lines go to the run dir's log
            summary = planned.execute(log_to_driver=False)
            analyze = analyze and any(v["rows"] for v in summary["splits"].values())
            if analyze:
                api.analyze(run_dir)
    except RunDirError as e:
        raise SpecError(f"--run-dir: {e}") from None
    except (RunError, OSError) as e:
        print(f"targen: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            f"targen: interrupted: every finished row is in {run_dir}; the same command continues the run",
            file=sys.stderr,
        )
        return 130
    from ..engine.split import sample
    from ..engine.summary import cost_line
    from ..engine.tasks import recorded_task

    run, base = RunDir(run_dir), run_dir.rstrip("/")
    sizes = ", ".join(f"{s} {v['rows']}/{v['target']}" for s, v in summary["splits"].items())
    for line in sample(run, recorded_task(run.read_json(RUN_FILE))):
        print(f"sample {line}")
    print(f"dataset: {base}/{run.final()} ({sizes})")
    d = summary["dedup"]
    print(
        f"dedup: dropped {d['exact']} exact and {d['near']} near duplicates ({d['cross_split']} across splits) "
        f"and {d['contaminated']} contaminated rows"
    )
    print(f"summary: {base}/{run.summary_file()}")
    print(cost_line(summary))
    print(f"log: {log} (Ray's and the libraries' own lines)")
    if analyze:
        print(f"report: {api.report_dir(run_dir)}/report.html")
    status = api.exit_status(summary)
    if status == 3:
        print(f"targen: stopped: {summary['stopped']}; what was paid for is in {run_dir}", file=sys.stderr)
    elif status == 4:
        from ..engine.summary import short_line

        print(f"targen: error: {short_line(summary['short'])}; see {run.summary_file()}", file=sys.stderr)
    return status


def export(args: argparse.Namespace) -> int:
    for name, lines in api.export(args.run_dir).items():
        print(f"{args.run_dir.rstrip('/')}/{RunDir.superglue()}/{name}: {lines} lines")
    return 0


def analyze(args: argparse.Namespace) -> int:
    out = args.out or api.report_dir(args.run_dir)
    metrics = api.analyze(args.run_dir, args.reference, out)
    syn = metrics["datasets"]["synthetic"]
    print(
        f"analysed {syn['rows']} rows: distinct-2 {syn['lexical']['distinct_2']}, "
        f"V-information {syn['difficulty'].get('v_information', 'n/a')}"
    )
    print(f"report: {out}/report.html")
    print(f"metrics: {out}/metrics.json")
    return 0


def evaluate(args: argparse.Namespace) -> int:
    result = api.evaluate(args.run_dir, args.reference, args.model, args.out, args.steps)
    print(f"scored as {result['scored_as']}: {result['family']}")
    for p in result["pairs"]:
        got = ", ".join(f"{k} {s['value']} [{s['low']}, {s['high']}]" for k, s in p.get("scores", {}).items())
        print(f"{p['train']} -> {p['test']}: {got or p['reason']} (chance {p['chance']})")
    print(f"report: {args.out or api.report_dir(args.run_dir)}/report.html")
    return 0


def publish(args: argparse.Namespace) -> int:
    flags = (args.overwrite, args.allow_incomplete, args.force_publish, args.mode, args.create_namespace)
    state, manifest = api.publish(args.run_dir, args.dest, args.superglue, *flags)
    sizes = ", ".join(f"{s} {n}" for s, n in manifest["splits"].items())
    made = f"snapshot {manifest['snapshot']}" if "snapshot" in manifest else f"{len(manifest['files'])} files"
    print(f"{state}: {args.dest.rstrip('/')} ({sizes}; {made})")
    return 0


def verify(args: argparse.Namespace) -> int:
    manifest, problems = api.verify(args.dest)
    for problem in problems:
        print(f"targen: error: {args.dest.rstrip('/')}/{problem}", file=sys.stderr)
    if problems:
        return 1
    against = manifest.get("against", f"{args.dest.rstrip('/')}/manifest.json")
    print(f"ok: {len(manifest['files'])} files of {manifest['name']} match {against}")
    return 0


def submit(args: argparse.Namespace) -> int:
    from .submit import submit as submit_job

    api.check_limit(args.limit)
    return submit_job(args.job, args.endpoints, args.address, args.run_dir, args.limit, wait=not args.no_wait)


def job_command(args: argparse.Namespace) -> int:
    from . import submit as jobs

    return getattr(jobs, args.command)(args.id, args.address)


def estimate(args: argparse.Namespace) -> int:
    import json

    from ..engine.estimate import table

    result = api.estimate(args.job, args.endpoints, args.limit)
    print(json.dumps(result, indent=2) if args.json else table(result))
    return 0


def init(args: argparse.Namespace) -> int:
    from pathlib import Path

    labels = [s.strip() for s in args.labels.split(",") if s.strip()] if args.labels else None
    for path in api.init(args.name, args.description, labels, args.extractive, args.dir):
        print(f"wrote {path}")
    print(f"next: targen estimate {Path(args.dir) / 'jobs' / (args.name + '.yaml')}")
    return 0
