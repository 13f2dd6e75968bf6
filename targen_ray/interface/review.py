"""`targen review` (the page, or `--export`) and `targen audit`: their options and what they run
(engine/review/) and print."""

from __future__ import annotations

import argparse
import getpass
import re

from ..engine.store import RunDir


def add_review(review: argparse.ArgumentParser) -> None:
    review.add_argument("--sample", type=int, default=100, help="rows in the sample (default 100)")
    review.add_argument("--per-label", type=int, help="rows of each final label (default: --sample spread evenly)")
    review.add_argument(
        "--export",
        choices=["labelstudio", "csv"],
        help="write the sample for Label Studio's JSON import (the final label as a prediction) or as CSV",
    )
    review.add_argument("--port", type=int, default=0, help="the page's port on 127.0.0.1 (default: a free one)")
    review.add_argument("--reviewer", type=_reviewer, help="whose decisions these are (default: the user's name)")


def _reviewer(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", name):
        raise argparse.ArgumentTypeError(f"{name!r}: letters, digits, '_', '.' and '-' only")
    return name


def add_audit(audit: argparse.ArgumentParser) -> None:
    audit.add_argument(
        "--decisions",
        nargs="+",
        default=[],
        metavar="FILE",
        help="decisions made in another tool: CSV or JSONL of id,label[,defects], or Label Studio's JSON export",
    )


def review_from_args(args: argparse.Namespace) -> int:
    if args.export is None:
        from ..engine.review.page import serve

        reviewer = args.reviewer or _reviewer(re.sub(r"[^A-Za-z0-9_.-]", "-", getpass.getuser()) or "reviewer")
        return serve(args.run_dir, reviewer, args.port, args.sample, args.per_label)
    from ..engine.review.sample import export

    name, rows = export(RunDir(args.run_dir), args.export, args.sample, args.per_label)
    print(f"{rows} rows: {args.run_dir.rstrip('/')}/{name}")
    return 0


def audit_from_args(args: argparse.Namespace) -> int:
    from ..engine.review.audit import audit, table

    result = audit(args.run_dir, args.decisions)
    print(table(result))
    print(f"audit: {args.run_dir.rstrip('/')}/{RunDir.audit_file()}")
    from analysis.analyze import METRICS, with_audit

    report = f"{args.run_dir.rstrip('/')}/{RunDir.report()}"
    if result["rows"] and RunDir(report).read_json(METRICS) is not None:  # else `targen analyze` adds it
        with_audit(args.run_dir, result, report)
        print(f"report: {report}/report.html")
    return 0
