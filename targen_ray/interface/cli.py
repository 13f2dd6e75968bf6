"""The `targen` command. Thin: parses arguments, calls the library, turns known errors into one line.

Every command is one record of COMMANDS: its help, its example, its arguments and the function that runs
it (commands.py; review, audit and fake-server keep theirs beside what they run)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass

from ..engine.store import RUN_FILE, RunDir
from ..errors import SpecError
from ..fake import cli as fake_cli
from . import commands as do
from . import review as review_cli


def arg(*flags: str, **options) -> tuple[tuple[str, ...], dict]:
    """One argument of a command, as argparse's `add_argument` takes it."""
    return flags, options


@dataclass(frozen=True)
class Command:
    name: str
    short: str  # the line in `targen --help`
    description: str
    example: str
    run: Callable[[argparse.Namespace], int]
    args: tuple = ()  # arg(...) records
    on_run: bool = False  # its first argument is a run directory
    more: Callable[[argparse.ArgumentParser], None] | None = None  # arguments the command's own module adds


RUN_DIR = arg("run_dir", metavar="RUN_DIR", help="the run directory (a path or s3://...)")
ENDPOINTS = arg("--endpoints", help="endpoints YAML (default: endpoints/local.yaml next to the job)")
LIMIT = arg("--limit", type=int, help="scale all splits down proportionally to N rows in total")
DEST = arg("dest", metavar="DEST", help="a local path, s3://bucket/prefix or iceberg://[CATALOG/]NS.TABLE")
ADDRESS = arg("--address", help="the cluster's job API (default: $RAY_ADDRESS or http://127.0.0.1:8265)")
SUBMISSION = arg("id", metavar="ID", help="the submission id `targen submit` printed")

COMMANDS = [
    Command(
        "run",
        "run a job: contexts -> seeds -> label-constrained generation -> self-correction -> splits",
        f"Run the four TarGEN steps as Ray stages; write RUN_DIR/{RunDir.final()}/{{train,validation,test}}.",
        "targen run jobs/boolq.yaml --limit 40\n"
        "targen run jobs/boolq.yaml --endpoints jobs/endpoints/fake.yaml --run-dir runs/boolq-fake",
        do.run,
        (
            arg("job", help="job YAML, e.g. jobs/boolq.yaml"),
            ENDPOINTS,
            LIMIT,
            arg(
                "--run-dir",
                help="where to write the run: a path or s3://bucket/prefix (default: runs/NAME-TIMESTAMP); "
                "an existing run there is continued",
            ),
            arg(
                "--no-analyze",
                action="store_true",
                help="skip the report (RUN_DIR/report/); `targen analyze` writes it later",
            ),
            arg(
                "--force",
                metavar="STAGES",
                help="comma-separated stages (contexts,seeds,generate,correct) to redo when the run dir holds a run "
                "of a changed job or prompts; later stages are redone too, earlier ones kept",
            ),
            arg(
                "--in-driver",
                action="store_true",
                help="send online requests from this process instead of Ray Data actors: for small runs, where "
                "starting each stage's actors costs more than its requests (same limits, ledger and run dir)",
            ),
        ),
    ),
    Command(
        "retry-rejects",
        "send a run's rejected rows again (after an outage, a fixed key, ...) and finish the run",
        "Move rejects/<step> aside (kept in the cost ledger) and send those rows again.",
        "targen retry-rejects runs/boolq-fake",
        do.retry_rejects,
        (
            arg("--steps", default="generate,correct", help="steps whose rejects to send again"),
            arg("--job", help=f"job YAML (default: the one recorded in RUN_DIR/{RUN_FILE})"),
            arg("--endpoints", help=f"endpoints YAML (default: the one recorded in RUN_DIR/{RUN_FILE})"),
        ),
        on_run=True,
    ),
    Command(
        "export",
        "write a run's final splits in another layout: --format superglue (the original JSONL files)",
        "Write RUN_DIR/superglue/{train,val,test}.jsonl (AX-b/AX-g: one file) from RUN_DIR/final.",
        "targen export runs/boolq-fake --format superglue",
        do.export,
        (arg("--format", choices=["superglue"], default="superglue"),),
        on_run=True,
    ),
    Command(
        "analyze",
        "write a run's diversity, difficulty, label and entity metrics and an HTML report (targen run does too)",
        "Write RUN_DIR/report/{metrics.json,report.html,plots/} (or under --out) from RUN_DIR/final.",
        "targen analyze runs/boolq-fake\ntargen analyze runs/boolq-fake --reference val.jsonl",
        do.analyze,
        (
            arg(
                "--reference",
                help="Parquet or JSONL in the task's fields (e.g. the original split): every metric side by side",
            ),
            arg("--out", help="where to write the report (a path or s3://...; default RUN_DIR/report)"),
        ),
        on_run=True,
    ),
    Command(
        "evaluate",
        "does the data train a model? train a small one on the synthetic train split, score it on the test split",
        "Train on RUN_DIR's synthetic train split (and a reference's train split) and score on the others: the "
        "paper's table, synthetic -> real beside real -> real, into metrics.json and report.html.",
        "targen evaluate runs/boolq-fake\n"
        "targen evaluate runs/boolq-fake --reference train.jsonl val.jsonl --model embedding",
        do.evaluate,
        (
            arg(
                "--reference",
                nargs="+",
                default=[],
                metavar="PATH",
                help="Parquet, JSONL or SQuAD JSON files in the task's fields, or folders of them (a split per file "
                "name: train*.jsonl trains, the others are scored on)",
            ),
            arg(
                "--model",
                choices=["tfidf", "embedding", "finetune"],
                help="a task with labels: logistic regression on TF-IDF (default) or MiniLM embeddings, or MiniLM "
                "fine-tuned on Ray Train (a task whose answer is a span has one model: the span baseline)",
            ),
            arg("--steps", type=int, help="finetune: optimiser steps per Ray Train worker (default 150)"),
            arg("--out", help="where the report is (a path or s3://...; default RUN_DIR/report)"),
        ),
        on_run=True,
    ),
    Command(
        "publish",
        "publish a finished run as a dataset (Parquet, card, manifest) at a path or s3://..., or to an Iceberg table",
        "Write DEST/data/<split>-*.parquet, README.md (a Hugging Face dataset card) and, last, manifest.json;\n"
        "iceberg://[CATALOG/]NS.TABLE (pyiceberg's catalogs): a snapshot of the rows with the run's lineage.",
        "targen publish runs/boolq-fake s3://my-bucket/datasets/boolq --superglue\n"
        "targen publish runs/boolq-fake iceberg://lake/synthetic.boolq --create-namespace",
        do.publish,
        (
            DEST,
            arg("--superglue", action="store_true", help="also the original SuperGLUE JSONL under superglue/"),
            arg("--overwrite", action="store_true", help="replace a different dataset already at DEST"),
            arg(
                "--allow-incomplete",
                action="store_true",
                help="publish a run whose splits are short (the card says so)",
            ),
            arg(
                "--force-publish",
                action="store_true",
                help="publish a run that fails its quality gate (the card says so)",
            ),
            arg(
                "--mode",
                choices=["append", "overwrite"],
                default="append",
                help="iceberg://: add a snapshot of the run's rows (default), or replace the table's rows with them "
                "in one commit",
            ),
            arg("--create-namespace", action="store_true", help="iceberg://: create a missing namespace"),
        ),
        on_run=True,
    ),
    Command(
        "verify",
        "re-check every file of a published dataset against its manifest (sha256 and row count)",
        "Read DEST/manifest.json and every file it lists; exit 1 naming each file that does not match.",
        "targen verify s3://my-bucket/datasets/boolq",
        do.verify,
        (DEST,),
    ),
    Command(
        "submit",
        "run a job on a Ray cluster (Ray's job API): this folder is uploaded, keys stay on the cluster",
        "Submit `targen run JOB` with this folder as its working directory; print the submission id and\n"
        "stream the logs until the job ends. The id follows from the job, prompts, --limit and --run-dir:\n"
        "the same work is never submitted twice, and a stopped or failed job is submitted again as its\n"
        "next attempt, which continues its run directory.",
        "targen submit jobs/record.yaml --endpoints jobs/endpoints/openai.yaml --run-dir s3://my-bucket/runs/record",
        do.submit,
        (
            arg("job", help="job YAML inside this folder, e.g. jobs/record.yaml"),
            arg("--endpoints", help="endpoints YAML inside this folder (default: endpoints/local.yaml)"),
            ADDRESS,
            arg("--run-dir", help="run directory as the cluster sees it (default: ~/targen-runs/NAME)"),
            LIMIT,
            arg("--no-wait", action="store_true", help="print the id and return instead of streaming logs"),
        ),
    ),
    *(
        Command(
            name,
            short,
            short[0].upper() + short[1:] + ".",
            f"targen {name} targen-record-0123456789ab",
            do.job_command,
            (SUBMISSION, ADDRESS),
        )
        for name, short in (
            ("status", "print a submitted job's status"),
            ("logs", "print a submitted job's logs so far"),
            ("stop", "stop a submitted job (its run directory keeps every finished row)"),
        )
    ),
    Command(
        "estimate",
        "print requests, tokens, USD and the time rate limits imply, without calling any model",
        "Estimate a job per step from its own templates, sizes, prices and rate limits.",
        "targen estimate jobs/boolq.yaml --endpoints jobs/endpoints/openai.yaml",
        do.estimate,
        (
            arg("job", help="job YAML, e.g. jobs/boolq.yaml"),
            ENDPOINTS,
            arg("--limit", type=int, help="estimate for N rows in total instead of the full size"),
            arg("--json", action="store_true", help="print JSON instead of a table"),
        ),
    ),
    Command(
        "init",
        "start a new task: a job file with the task declared in it and four prompt templates, to edit",
        "Write jobs/NAME.yaml, prompts/NAME/{contexts,seeds,generate,correct}.j2 (and jobs/endpoints/local.yaml\n"
        "if there is none) under --dir. A classification task by default; --extractive for SQuAD-shaped QA.",
        "targen init ticket_triage --description 'Route support tickets by team.' --labels billing,bugs,sales\n"
        "targen init manual_qa --description 'Questions on our manuals.' --extractive",
        do.init,
        (
            arg("name", metavar="NAME", help="the task's name: lower-case letters, digits and _"),
            arg("--description", required=True, help="what the task is, in a sentence or two"),
            arg("--labels", help="comma-separated label names, label 0 first (classification)"),
            arg("--extractive", action="store_true", help="no labels: the answer is a span of the passage"),
            arg("--dir", default=".", help="project folder to write into (default: here)"),
        ),
    ),
    Command(
        "review",
        "review a fixed stratified sample of a run's final rows in a local web page, or export it",
        "Serve the sample on 127.0.0.1 (the URL it prints carries the session's token); each decision is "
        f"appended to RUN_DIR/{RunDir.review_decisions()}/REVIEWER.jsonl as it is made. With --export: write "
        f"RUN_DIR/{RunDir.review_export('labelstudio')} (Label Studio's import) or a CSV instead. The "
        "sample's seed is kept in the run.",
        "targen review runs/boolq-fake --reviewer ana\n"
        "targen review runs/boolq-fake --export labelstudio --per-label 50",
        review_cli.review_from_args,
        on_run=True,
        more=review_cli.add_review,
    ),
    Command(
        "audit",
        "measure label accuracy (95%% interval) from reviewers' decisions; the gate can require it",
        f"Read RUN_DIR/{RunDir.review_decisions()}/ and --decisions files; write RUN_DIR/{RunDir.audit_file()}.",
        "targen audit runs/boolq-fake --decisions labelstudio-export.json",
        review_cli.audit_from_args,
        on_run=True,
        more=review_cli.add_audit,
    ),
    Command(
        "fake-server",
        "serve a fake OpenAI/Anthropic API on loopback for tests and offline runs",
        "A task-aware fake provider: OpenAI chat completions and Anthropic messages, and their Batch APIs.",
        "targen fake-server --port 8999 --wrong-label-rate 0.2 &\n"
        "FAKE_API_KEY=x targen run jobs/boolq.yaml --endpoints jobs/endpoints/fake.yaml --limit 200",
        fake_cli.serve_from_args,
        more=fake_cli.add_arguments,
    ),
]


def _parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    p = argparse.ArgumentParser(
        prog="targen",
        description="Generate a labelled dataset from a task description with TarGEN, on Ray.",
        epilog="example:\n  targen run jobs/boolq.yaml --limit 40",
        formatter_class=fmt,
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for c in COMMANDS:
        example = "\n".join(f"  {line}" for line in c.example.splitlines())
        parser = sub.add_parser(
            c.name, help=c.short, description=c.description, epilog=f"example:\n{example}", formatter_class=fmt
        )
        for flags, options in (RUN_DIR,) * c.on_run + c.args:
            parser.add_argument(*flags, **options)
        if c.more:
            c.more(parser)
        parser.set_defaults(handler=c.run)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.handler(args)
    except SpecError as e:
        print(f"targen: error: {e}", file=sys.stderr)
        return 2
