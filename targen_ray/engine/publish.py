"""`targen publish` and `targen verify`: a finished run as a dataset at a local path or object-store URI.

DEST gets `data/<split>-KKKKK-of-NNNNN.parquet` (the task's SuperGLUE fields, Hugging Face layout), with
`--superglue` the original JSONL files under `superglue/`, the dataset card `README.md`, and last
`manifest.json`, the commit point: every file with its sha256 and row count, and how the data was made.
A reader that goes by the manifest never sees a half-published dataset: until it is written there is
no dataset at DEST, and publishing over one first takes its manifest away. Publishing the same run
again changes nothing; publishing a different one over it needs --overwrite.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
import time
from importlib import metadata

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from ..config import SPLITS
from ..errors import SpecError
from . import card, gate
from .export import export_superglue
from .store import RUN_FILE, RunDir
from .tasks import recorded_task

MANIFEST = "manifest.json"
FORMAT = "targen-ray dataset 1"
OURS = ("data/", "superglue/", "README.md")  # what publish writes before the manifest
PACKAGES = ("targen-ray", "ray", "pyarrow", "openai", "anthropic", "sentence-transformers", "faiss-cpu")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _finished(run: RunDir, incomplete: bool) -> tuple[dict, dict]:
    recorded, summary = run.read_json(RUN_FILE), run.read_json(run.summary_file())
    if recorded is None or summary is None:
        raise SpecError(f"{run}: no finished run here (no {RUN_FILE} or summary.json)")
    if not summary["complete"] and not incomplete:
        short = ", ".join(f"{s} {v['rows']}/{v['target']}" for s, v in summary["splits"].items())
        raise SpecError(
            f"{run}: the run is not complete ({short}); finish it, or publish it as it is with --allow-incomplete"
        )
    if not run.files(run.final(), recursive=True):
        raise SpecError(f"{run}: the run has no rows to publish ({run.final()}/ is empty)")
    if "generation" not in summary:
        raise SpecError(f"{run}/{run.summary_file()}: written by an older version; run the job again to refresh it")
    return recorded, summary


def checked(run_dir: str, incomplete: bool, force: bool) -> tuple[RunDir, dict, dict, dict | None, list[str]]:
    """A finished run that may be published (`incomplete`: also one whose splits are short; `force`: also
    one that fails its gate): the run, its run.json, summary, metrics and the gate failures overridden."""
    run = RunDir(run_dir)
    recorded, summary = _finished(run, incomplete)
    metrics = run.read_json(f"{run.report()}/metrics.json")
    failed = gate.failures(run, summary, metrics)
    if failed and not force:
        more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        raise SpecError(f"{run}: quality gate: {failed[0]}{more}; fix it, or publish anyway with --force-publish")
    return run, recorded, summary, metrics, failed


def publish(
    run_dir: str,
    dest: str,
    superglue: bool = False,
    overwrite: bool = False,
    incomplete: bool = False,
    force: bool = False,
) -> tuple[str, dict]:
    """Publish a finished run that passes its quality gate (`incomplete`: also one whose splits are short;
    `force`: also one that fails its gate; the card and manifest say so); returns ("published" |
    "unchanged", the manifest)."""
    out = RunDir(dest)
    run, recorded, summary, metrics, failed = checked(run_dir, incomplete, force)
    source = run.final_digest(f"{FORMAT} superglue={superglue}")
    existing = out.read_json(MANIFEST)
    if existing is not None and existing.get("source_sha256") == source:
        return "unchanged", existing
    present = out.files("", recursive=True)
    if present and not overwrite:
        if existing is not None:
            raise SpecError(
                f"{out}: holds another dataset ({existing.get('name')}, published {existing.get('published_at')}); "
                "use --overwrite to replace it"
            )
        foreign = [p for p in present if not _ours(out, p)]
        if foreign:
            raise SpecError(f"{out}: holds files that are not a published dataset ({foreign[0]}); use a new DEST")
        # Only what an interrupted publish left: nothing was committed, so it is simply written again.
    out.delete([p for p in present if p.endswith("/" + MANIFEST)])  # uncommit first, then replace
    out.delete([p for p in present if _ours(out, p)])

    task = recorded_task(recorded)
    files, entries, schema = {}, [], card.hf_schema(task)
    for split in SPLITS:
        parts = run.parts(run.final(split))
        for k, part in enumerate(parts):
            name = f"data/{split}-{k:05d}-of-{len(parts):05d}.parquet"
            table = pq.read_table(part, filesystem=run.fs, columns=task.record_schema.names).cast(schema)
            buf = io.BytesIO()
            pq.write_table(table, buf, compression="zstd")
            entries.append(_write(out, name, buf.getvalue(), table.num_rows, split))
            files.setdefault(split, []).append(entries[-1])
    if superglue:
        for name, lines in export_superglue(task, run).items():
            with run.fs.open_input_stream(f"{run.path}/{run.superglue()}/{name}") as f:
                entries.append(_write(out, f"superglue/{name}", f.read(), lines, None))
    made = lineage(run, recorded, summary, failed)
    readme = card.render(task, summary, files, metrics, failed, audit_of(run, made["run_id"]))
    entries.append(_write(out, "README.md", readme.encode(), None, None))
    manifest = _manifest(made, summary, source, entries)
    out.write_json(MANIFEST, manifest)  # the commit point
    return "published", manifest


def audit_of(run: RunDir, rows_digest: str) -> dict | None:
    """`targen audit`'s figures, when they are of these rows (`rows_digest`: `run.final_digest()`)."""
    audit = run.read_json(run.audit_file())
    return audit if audit and audit["final_digest"] == rows_digest else None


def _ours(out: RunDir, path: str) -> bool:
    rel = path.removeprefix(out.path.rstrip("/") + "/")
    return rel == MANIFEST or any(rel == p or (p.endswith("/") and rel.startswith(p)) for p in OURS)


def _write(out: RunDir, name: str, data: bytes, rows: int | None, split: str | None) -> dict:
    out.write_bytes(name, data)
    return {"path": name, "split": split, "rows": rows, "bytes": len(data), "sha256": _sha256(data)}


def lineage(run: RunDir, recorded: dict, summary: dict, failed: list[str]) -> dict:
    """Where a published dataset's rows come from: what manifest.json records, and what every Iceberg
    snapshot's summary carries. Endpoints are provider and model only, never a key or its variable."""
    gen, rows_digest = summary["generation"], run.final_digest()
    task = recorded_task(recorded)
    schema = card.hf_schema(task).to_string()  # the fields, types and Features it publishes
    declared = {"task": task.name, "declaration": recorded.get("declaration"), "schema": schema}
    audit = audit_of(run, rows_digest)
    finished = run.fs.get_file_info(f"{run.path}/{run.summary_file()}").mtime
    contexts = run.fs.get_file_info(pafs.FileSelector(run.file_path(run.stage_dir("contexts")), allow_not_found=True))
    first = min((i.mtime for i in contexts if i.type == pafs.FileType.File), default=None)
    return {
        "run_id": rows_digest,  # sha256 of the final splits: what audits and evaluations name these rows by
        "name": summary["job"],
        "task": summary["task"],
        "task_hash": _sha256(json.dumps(declared, sort_keys=True).encode())[:16],
        "spec_hash": summary["spec_hash"],
        "run": {k: recorded[k] for k in ("spec_hash", "prompts_hash", "limit")},
        "prompts": gen["prompts"],
        "steps": gen["steps"],
        "endpoints": gen["endpoints"],  # provider and model only: never a key or the name of its variable
        "generated_from": _stamp(first),  # step 1's rows: the first thing a run writes
        "generated_at": _stamp(finished),
        "splits": {s: v["rows"] for s, v in summary["splits"].items()},
        "labels": {s: v["labels"] for s, v in summary["splits"].items()},
        "complete": summary["complete"],  # False: published with --allow-incomplete, splits short of target
        "gate": {"verdict": "overridden" if failed else "passed", "overridden": failed},
        "audit": audit and {k: audit["accuracy"][k] for k in ("value", "low", "high", "rows")},
        "version": _version("targen-ray"),
    }


def _manifest(made: dict, summary: dict, source: str, files: list[dict]) -> dict:
    return {
        "format": FORMAT,
        **made,
        "license": summary["generation"]["license"],
        "source_sha256": source,
        "files": files,
        "cost": {k: summary[k] for k in ("requests", "input_tokens", "output_tokens", "usd", "ledger")},
        "dedup": summary["dedup"],
        "packages": {"python": sys.version.split()[0], **{p: _version(p) for p in PACKAGES}},
        "published_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _stamp(when) -> str | None:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ") if when else None


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def verify(dest: str) -> tuple[dict, list[str]]:
    """Re-read every file the manifest lists: its sha256 and row count; and no data file it does not list.
    Returns the manifest and the problems found (none: the dataset is whole)."""
    out = RunDir(dest)
    manifest = out.read_json(MANIFEST)
    if manifest is None:
        raise SpecError(f"{out}: no {MANIFEST}: nothing is published here (or a publish has not finished)")
    problems = []
    for entry in manifest["files"]:
        path = f"{out.path}/{entry['path']}"
        try:
            with out.fs.open_input_stream(path) as f:
                data = f.read()
        except FileNotFoundError:
            problems.append(f"{entry['path']}: missing")
            continue
        if _sha256(data) != entry["sha256"]:
            problems.append(f"{entry['path']}: sha256 {_sha256(data)[:12]}… differs from the manifest's")
        elif entry["rows"] is not None and _rows(entry["path"], data) != entry["rows"]:
            problems.append(f"{entry['path']}: {_rows(entry['path'], data)} rows, the manifest says {entry['rows']}")
    listed = {e["path"] for e in manifest["files"]}
    for path in out.files("data", recursive=True):
        rel = path.removeprefix(out.path.rstrip("/") + "/")
        if rel not in listed:
            problems.append(f"{rel}: not in the manifest")
    return manifest, problems


def _rows(name: str, data: bytes) -> int:
    if name.endswith(".parquet"):
        return pq.ParquetFile(pa.BufferReader(data)).metadata.num_rows
    return data.count(b"\n")
