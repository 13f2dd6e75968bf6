"""`targen review --export` and `targen audit`: their options and commands, beside what they run."""

from __future__ import annotations

import argparse

from ..store import RunDir


def add_review(review: argparse.ArgumentParser) -> None:
    review.add_argument("--sample", type=int, default=100, help="rows in the sample (default 100)")
    review.add_argument("--per-label", type=int, help="rows of each final label (default: --sample spread evenly)")
    review.add_argument(
        "--export",
        choices=["labelstudio", "csv"],
        required=True,
        help="write the sample for Label Studio's JSON import (the final label as a prediction) or as CSV",
    )


def add_audit(audit: argparse.ArgumentParser) -> None:
    audit.add_argument(
        "--decisions",
        nargs="+",
        default=[],
        metavar="FILE",
        help="decisions made in another tool: CSV or JSONL of id,label[,defects], or Label Studio's JSON export",
    )


def review_from_args(args: argparse.Namespace) -> int:
    from .sample import export

    name, rows = export(RunDir(args.run_dir), args.export, args.sample, args.per_label)
    print(f"{rows} rows: {args.run_dir.rstrip('/')}/{name}")
    return 0


def audit_from_args(args: argparse.Namespace) -> int:
    from .audit import audit, table

    result = audit(args.run_dir, args.decisions)
    print(table(result))
    print(f"audit: {args.run_dir.rstrip('/')}/{RunDir.audit_file()}")
    return 0
