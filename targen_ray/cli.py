"""The `targen` command. Thin: parses arguments, calls the library, turns known errors into one line."""

from __future__ import annotations

import argparse
import sys

from . import api
from .errors import SpecError
from .fake import cli as fake_cli
from .review import cli as review_cli
from .store import RUN_FILE, RunDir

EXAMPLES = {
    "run": "example:\n  targen run jobs/boolq.yaml --limit 40\n"
    "  targen run jobs/boolq.yaml --endpoints jobs/endpoints/fake.yaml --run-dir runs/boolq-fake",
    "retry-rejects": "example:\n  targen retry-rejects runs/boolq-fake",
    "export": "example:\n  targen export runs/boolq-fake --format superglue",
    "analyze": "example:\n  targen analyze runs/boolq-fake\n  targen analyze runs/boolq-fake --reference val.jsonl",
    "evaluate": "example:\n  targen evaluate runs/boolq-fake\n"
    "  targen evaluate runs/boolq-fake --reference train.jsonl val.jsonl --model embedding",
    "publish": "example:\n  targen publish runs/boolq-fake s3://my-bucket/datasets/boolq --superglue\n"
    "  targen publish runs/boolq-fake iceberg://lake/synthetic.boolq --create-namespace",
    "verify": "example:\n  targen verify s3://my-bucket/datasets/boolq",
    "submit": "example:\n  targen submit jobs/record.yaml --endpoints jobs/endpoints/openai.yaml "
    "--run-dir s3://my-bucket/runs/record",
    "status": "example:\n  targen status targen-record-0123456789ab",
    "logs": "example:\n  targen logs targen-record-0123456789ab",
    "stop": "example:\n  targen stop targen-record-0123456789ab",
    "estimate": "example:\n  targen estimate jobs/boolq.yaml --endpoints jobs/endpoints/openai.yaml",
    "init": "example:\n  targen init ticket_triage --description 'Route support tickets by team.' "
    "--labels billing,bugs,sales\n  targen init manual_qa --description 'Questions on our manuals.' --extractive",
    "review": "examples:\n  targen review runs/boolq-fake --reviewer ana\n"
    "  targen review runs/boolq-fake --export labelstudio --per-label 50",
    "audit": "example:\n  targen audit runs/boolq-fake --decisions labelstudio-export.json",
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

    def command(name: str, short: str, description: str, on_run: bool = False) -> argparse.ArgumentParser:
        """A subcommand; `on_run`: its first argument is a run directory."""
        c = sub.add_parser(name, help=short, description=description, epilog=EXAMPLES[name], formatter_class=fmt)
        if on_run:
            c.add_argument("run_dir", metavar="RUN_DIR", help="the run directory (a path or s3://...)")
        return c

    run = command(
        "run",
        "run a job: contexts -> seeds -> label-constrained generation -> self-correction -> splits",
        f"Run the four TarGEN steps as Ray stages; write RUN_DIR/{RunDir.final()}/{{train,validation,test}}.",
    )
    run.add_argument("job", help="job YAML, e.g. jobs/boolq.yaml")
    run.add_argument("--endpoints", help="endpoints YAML (default: endpoints/local.yaml next to the job)")
    run.add_argument("--limit", type=int, help="scale all splits down proportionally to N rows in total")
    run.add_argument(
        "--run-dir",
        help="where to write the run: a path or s3://bucket/prefix (default: runs/NAME-TIMESTAMP); "
        "an existing run there is continued",
    )
    run.add_argument(
        "--no-analyze", action="store_true", help="skip the report (RUN_DIR/report/); `targen analyze` writes it later"
    )
    run.add_argument(
        "--force",
        metavar="STAGES",
        help="comma-separated stages (contexts,seeds,generate,correct) to redo when the run dir holds a run "
        "of a changed job or prompts; later stages are redone too, earlier ones kept",
    )
    run.add_argument(
        "--in-driver",
        action="store_true",
        help="send online requests from this process instead of Ray Data actors: for small runs, where "
        "starting each stage's actors costs more than its requests (same limits, ledger and run dir)",
    )

    retry = command(
        "retry-rejects",
        "send a run's rejected rows again (after an outage, a fixed key, ...) and finish the run",
        "Move rejects/<step> aside (kept in the cost ledger) and send those rows again.",
        on_run=True,
    )
    retry.add_argument("--steps", default="generate,correct", help="steps whose rejects to send again")
    retry.add_argument("--job", help=f"job YAML (default: the one recorded in RUN_DIR/{RUN_FILE})")
    retry.add_argument("--endpoints", help=f"endpoints YAML (default: the one recorded in RUN_DIR/{RUN_FILE})")

    export = command(
        "export",
        "write a run's final splits in another layout: --format superglue (the original JSONL files)",
        "Write RUN_DIR/superglue/{train,val,test}.jsonl (AX-b/AX-g: one file) from RUN_DIR/final.",
        on_run=True,
    )
    export.add_argument("--format", choices=["superglue"], default="superglue")

    analyze = command(
        "analyze",
        "write a run's diversity, difficulty, label and entity metrics and an HTML report (targen run does too)",
        "Write RUN_DIR/report/{metrics.json,report.html,plots/} (or under --out) from RUN_DIR/final.",
        on_run=True,
    )
    analyze.add_argument(
        "--reference", help="Parquet or JSONL in the task's fields (e.g. the original split): every metric side by side"
    )
    analyze.add_argument("--out", help="where to write the report (a path or s3://...; default RUN_DIR/report)")

    ev = command(
        "evaluate",
        "does the data train a model? train a small one on the synthetic train split, score it on the test split",
        "Train on RUN_DIR's synthetic train split (and a reference's train split) and score on the others: the "
        "paper's table, synthetic -> real beside real -> real, into metrics.json and report.html.",
        on_run=True,
    )
    ev.add_argument(
        "--reference",
        nargs="+",
        default=[],
        metavar="PATH",
        help="Parquet, JSONL or SQuAD JSON files in the task's fields, or folders of them (a split per file "
        "name: train*.jsonl trains, the others are scored on)",
    )
    ev.add_argument(
        "--model",
        choices=["tfidf", "embedding", "finetune"],
        help="a task with labels: logistic regression on TF-IDF (default) or MiniLM embeddings, or MiniLM "
        "fine-tuned on Ray Train (a task whose answer is a span has one model: the span baseline)",
    )
    ev.add_argument("--steps", type=int, help="finetune: optimiser steps per Ray Train worker (default 150)")
    ev.add_argument("--out", help="where the report is (a path or s3://...; default RUN_DIR/report)")

    pub = command(
        "publish",
        "publish a finished run as a dataset (Parquet, card, manifest) at a path or s3://..., or to an Iceberg table",
        "Write DEST/data/<split>-*.parquet, README.md (a Hugging Face dataset card) and, last, manifest.json;\n"
        "iceberg://[CATALOG/]NS.TABLE (pyiceberg's catalogs): a snapshot of the rows with the run's lineage.",
        on_run=True,
    )
    pub.add_argument("dest", metavar="DEST", help="a local path, s3://bucket/prefix or iceberg://[CATALOG/]NS.TABLE")
    pub.add_argument("--superglue", action="store_true", help="also the original SuperGLUE JSONL under superglue/")
    pub.add_argument("--overwrite", action="store_true", help="replace a different dataset already at DEST")
    pub.add_argument(
        "--allow-incomplete", action="store_true", help="publish a run whose splits are short (the card says so)"
    )
    pub.add_argument(
        "--force-publish", action="store_true", help="publish a run that fails its quality gate (the card says so)"
    )
    pub.add_argument(
        "--mode",
        choices=["append", "overwrite"],
        default="append",
        help="iceberg://: add a snapshot "
        "of the run's rows (default), or replace the table's rows with them in one commit",
    )
    pub.add_argument("--create-namespace", action="store_true", help="iceberg://: create a missing namespace")

    ver = command(
        "verify",
        "re-check every file of a published dataset against its manifest (sha256 and row count)",
        "Read DEST/manifest.json and every file it lists; exit 1 naming each file that does not match.",
    )
    ver.add_argument("dest", metavar="DEST", help="a local path, s3://bucket/prefix or iceberg://[CATALOG/]NS.TABLE")

    submit_p = command(
        "submit",
        "run a job on a Ray cluster (Ray's job API): this folder is uploaded, keys stay on the cluster",
        "Submit `targen run JOB` with this folder as its working directory; print the submission id and\n"
        "stream the logs until the job ends. The id follows from the job, prompts, --limit and --run-dir:\n"
        "the same work is never submitted twice, and a stopped or failed job is submitted again as its\n"
        "next attempt, which continues its run directory.",
    )
    submit_p.add_argument("job", help="job YAML inside this folder, e.g. jobs/record.yaml")
    submit_p.add_argument("--endpoints", help="endpoints YAML inside this folder (default: endpoints/local.yaml)")
    submit_p.add_argument("--address", help="the cluster's job API (default: $RAY_ADDRESS or http://127.0.0.1:8265)")
    submit_p.add_argument("--run-dir", help="run directory as the cluster sees it (default: ~/targen-runs/NAME)")
    submit_p.add_argument("--limit", type=int, help="scale all splits down proportionally to N rows in total")
    submit_p.add_argument("--no-wait", action="store_true", help="print the id and return instead of streaming logs")
    for name, short in (
        ("status", "print a submitted job's status"),
        ("logs", "print a submitted job's logs so far"),
        ("stop", "stop a submitted job (its run directory keeps every finished row)"),
    ):
        c = command(name, short, short[0].upper() + short[1:] + ".")
        c.add_argument("id", metavar="ID", help="the submission id `targen submit` printed")
        c.add_argument("--address", help="the cluster's job API (default: $RAY_ADDRESS or http://127.0.0.1:8265)")

    est = command(
        "estimate",
        "print requests, tokens, USD and the time rate limits imply, without calling any model",
        "Estimate a job per step from its own templates, sizes, prices and rate limits.",
    )
    est.add_argument("job", help="job YAML, e.g. jobs/boolq.yaml")
    est.add_argument("--endpoints", help="endpoints YAML (default: endpoints/local.yaml next to the job)")
    est.add_argument("--limit", type=int, help="estimate for N rows in total instead of the full size")
    est.add_argument("--json", action="store_true", help="print JSON instead of a table")

    init = command(
        "init",
        "start a new task: a job file with the task declared in it and four prompt templates, to edit",
        "Write jobs/NAME.yaml, prompts/NAME/{contexts,seeds,generate,correct}.j2 (and jobs/endpoints/local.yaml\n"
        "if there is none) under --dir. A classification task by default; --extractive for SQuAD-shaped QA.",
    )
    init.add_argument("name", metavar="NAME", help="the task's name: lower-case letters, digits and _")
    init.add_argument("--description", required=True, help="what the task is, in a sentence or two")
    init.add_argument("--labels", help="comma-separated label names, label 0 first (classification)")
    init.add_argument("--extractive", action="store_true", help="no labels: the answer is a span of the passage")
    init.add_argument("--dir", default=".", help="project folder to write into (default: here)")

    review_cli.add_review(
        command(
            "review",
            "review a fixed stratified sample of a run's final rows in a local web page, or export it",
            "Serve the sample on 127.0.0.1 (the URL it prints carries the session's token); each decision is "
            f"appended to RUN_DIR/{RunDir.review_decisions()}/REVIEWER.jsonl as it is made. With --export: write "
            f"RUN_DIR/{RunDir.review_export('labelstudio')} (Label Studio's import) or a CSV instead. The "
            "sample's seed is kept in the run.",
            on_run=True,
        )
    )
    review_cli.add_audit(
        command(
            "audit",
            "measure label accuracy (95%% interval) from reviewers' decisions; the gate can require it",
            f"Read RUN_DIR/{RunDir.review_decisions()}/ and --decisions files; write RUN_DIR/{RunDir.audit_file()}.",
            on_run=True,
        )
    )
    fake_cli.add_arguments(
        command(
            "fake-server",
            "serve a fake OpenAI/Anthropic API on loopback for tests and offline runs",
            "A task-aware fake provider: OpenAI chat completions and Anthropic messages, and their Batch APIs.",
        )
    )
    return p


def _run(args: argparse.Namespace) -> int:
    force = (args.force or "").split(",")
    planned = api.plan_run(args.job, args.endpoints, args.run_dir, args.limit, force, args.in_driver)
    return _finish(planned, analyze=not args.no_analyze)


def _retry_rejects(args: argparse.Namespace) -> int:
    return _finish(api.plan_retry(args.run_dir, args.steps.split(","), args.job, args.endpoints))


def _finish(planned: api.Planned, analyze: bool = True) -> int:
    """Run it with the terminal kept for targen's own lines, report where the dataset is (and analyse
    it), and turn known failures into one line and an exit status."""
    from .errors import RunDirError, RunError
    from .fake.rehearsal import note
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
    from .split import sample
    from .summary import cost_line
    from .tasks import recorded_task

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
        from .summary import short_line

        print(f"targen: error: {short_line(summary['short'])}; see {run.summary_file()}", file=sys.stderr)
    return status


def _export(args: argparse.Namespace) -> int:
    for name, lines in api.export(args.run_dir).items():
        print(f"{args.run_dir.rstrip('/')}/{RunDir.superglue()}/{name}: {lines} lines")
    return 0


def _analyze(args: argparse.Namespace) -> int:
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


def _evaluate(args: argparse.Namespace) -> int:
    result = api.evaluate(args.run_dir, args.reference, args.model, args.out, args.steps)
    print(f"scored as {result['scored_as']}: {result['family']}")
    for p in result["pairs"]:
        got = ", ".join(f"{k} {s['value']} [{s['low']}, {s['high']}]" for k, s in p.get("scores", {}).items())
        print(f"{p['train']} -> {p['test']}: {got or p['reason']} (chance {p['chance']})")
    print(f"report: {args.out or api.report_dir(args.run_dir)}/report.html")
    return 0


def _publish(args: argparse.Namespace) -> int:
    flags = (args.overwrite, args.allow_incomplete, args.force_publish, args.mode, args.create_namespace)
    state, manifest = api.publish(args.run_dir, args.dest, args.superglue, *flags)
    sizes = ", ".join(f"{s} {n}" for s, n in manifest["splits"].items())
    made = f"snapshot {manifest['snapshot']}" if "snapshot" in manifest else f"{len(manifest['files'])} files"
    print(f"{state}: {args.dest.rstrip('/')} ({sizes}; {made})")
    return 0


def _verify(args: argparse.Namespace) -> int:
    manifest, problems = api.verify(args.dest)
    for problem in problems:
        print(f"targen: error: {args.dest.rstrip('/')}/{problem}", file=sys.stderr)
    if problems:
        return 1
    against = manifest.get("against", f"{args.dest.rstrip('/')}/manifest.json")
    print(f"ok: {len(manifest['files'])} files of {manifest['name']} match {against}")
    return 0


def _submit(args: argparse.Namespace) -> int:
    from .submit import submit

    api.check_limit(args.limit)
    return submit(args.job, args.endpoints, args.address, args.run_dir, args.limit, wait=not args.no_wait)


def _job_command(args: argparse.Namespace) -> int:
    from . import submit

    return getattr(submit, args.command)(args.id, args.address)


def _estimate(args: argparse.Namespace) -> int:
    import json

    from .estimate import table

    result = api.estimate(args.job, args.endpoints, args.limit)
    print(json.dumps(result, indent=2) if args.json else table(result))
    return 0


def _init(args: argparse.Namespace) -> int:
    from pathlib import Path

    labels = [s.strip() for s in args.labels.split(",") if s.strip()] if args.labels else None
    for path in api.init(args.name, args.description, labels, args.extractive, args.dir):
        print(f"wrote {path}")
    print(f"next: targen estimate {Path(args.dir) / 'jobs' / (args.name + '.yaml')}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        commands = {
            "run": _run,
            "retry-rejects": _retry_rejects,
            "export": _export,
            "analyze": _analyze,
            "evaluate": _evaluate,
            "publish": _publish,
            "verify": _verify,
            "submit": _submit,
            "status": _job_command,
            "logs": _job_command,
            "stop": _job_command,
            "estimate": _estimate,
            "init": _init,
            "review": review_cli.review_from_args,
            "audit": review_cli.audit_from_args,
            "fake-server": fake_cli.serve_from_args,
        }
        return commands[args.command](args)
    except SpecError as e:
        print(f"targen: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
