"""`targen analyze`: every metric of a run's final splits (and of a reference set, side by side),
written as RUN_DIR/report/{metrics.json, report.html, plots/*.png} or under --out."""

from __future__ import annotations

import json
import time
from importlib import resources
from pathlib import Path

import jsonschema
import numpy as np

from targen_ray.engine.store import RunDir

from . import dataset, difficulty, entities, labels, lexical, plots, report, semantic
from .dataset import Dataset

SCHEMA_VERSION = 1
METRICS = "metrics.json"
NO_EMBEDDINGS = "stage 5 stored no embeddings for this run (dedup.near and dedup.reference were off)"


def schema() -> dict:
    return json.loads(resources.files(__package__).joinpath("metrics.schema.json").read_text())


def analyze(run_dir: str, reference: Path | None = None, out: str | None = None) -> dict:
    """Analyse a finished run; returns metrics.json's content after writing the report."""
    started = time.monotonic()
    run = RunDir(run_dir)
    task = dataset.run_task(run)
    names = list(task.label_names)
    sets = [dataset.from_run(run, task)]
    if reference is not None:
        sets.append(dataset.from_file(reference, task))
    n = min(d.rows for d in sets)
    if len(sets) > 1:  # the reference is embedded here, so only as many rows as size-matched metrics use
        sets[1] = sets[1].sample(n).embedded()
    described, drawn = {}, {}
    for d in sets:
        described[d.name], drawn[d.name] = describe(d, names)
    summary = run.read_json(run.summary_file()) or {}
    metrics = {
        "schema_version": SCHEMA_VERSION,
        "run": {"dir": str(run), "job": summary.get("job"), "task": task.name, "labels": names},
        "reference": str(reference) if reference else None,
        "datasets": described,
        "equal_size": {"rows": n, **{d.name: size_dependent(d.sample(n), names, described[d.name]) for d in sets}}
        if len(sets) > 1
        else None,
        "self_correction": labels.self_correction(run, names),
        "panel": summary.get("panel"),
        "counts": summary.get("rows"),
        "dedup": summary.get("dedup"),
        "cost": {
            "usd": summary.get("usd"),
            "ledger": summary.get("ledger"),
            "estimate_vs_actual": summary.get("estimate_vs_actual"),
        },
        "wall_s": 0.0,
    }
    figures = figures_of(described, drawn)
    metrics["wall_s"] = round(time.monotonic() - started, 2)
    dest = RunDir(out or f"{run.uri}/{run.report()}")
    evaluation = (dest.read_json(METRICS) or {}).get("evaluation")
    if evaluation and evaluation["source_sha256"] == run.final_digest():  # still of these rows
        metrics["evaluation"] = evaluation
        figures["evaluation"] = plots.scores(evaluation)
    audited = run.read_json(run.audit_file())
    if audited and audited["rows"] and audited["final_digest"] == run.final_digest():
        metrics["audit"], figures["audit"] = audited, plots.audit(audited)
    write(dest, metrics, figures)
    return metrics


def write(dest: RunDir, metrics: dict, figures: dict[str, bytes]) -> None:
    """metrics.json (checked against its schema), the plots and report.html."""
    jsonschema.validate(metrics, schema())
    for name, png in figures.items():
        dest.write_bytes(f"plots/{name}.png", png)
    dest.write_json(METRICS, metrics)
    dest.write_bytes("report.html", report.render(metrics, figures).encode())


def with_evaluation(run_dir: str, evaluation: dict, out: str | None = None) -> dict:
    """The run's report with `targen evaluate`'s result in it (the report is made first if there is none)."""
    return _with(run_dir, "evaluation", evaluation, plots.scores(evaluation), out)


def with_audit(run_dir: str, result: dict, out: str | None = None) -> dict:
    """The run's report with `targen audit`'s result in it (the report is made first if there is none)."""
    return _with(run_dir, "audit", result, plots.audit(result), out)


def _with(run_dir: str, key: str, section: dict, png: bytes, out: str | None) -> dict:
    run = RunDir(run_dir)
    dest = RunDir(out or f"{run.uri}/{run.report()}")
    metrics = dest.read_json(METRICS) or analyze(run_dir, out=out)
    figures = {p.rsplit("/", 1)[-1].removesuffix(".png"): _read(dest, p) for p in dest.files("plots")}
    metrics[key], figures[key] = section, png
    write(dest, metrics, figures)
    return metrics


def _read(dest: RunDir, path: str) -> bytes:
    with dest.fs.open_input_stream(path) as f:
        return f.read()


def describe(d: Dataset, names: list[str]) -> tuple[dict, dict]:
    """A dataset's metrics, and the distributions its plots draw."""
    lex, lengths = lexical.metrics(d.frame, d.fields)
    hard, pvi = difficulty.metrics(d.frame, d.fields, names)
    out = {
        "rows": d.rows,
        "labels": labels.per_split(d.frame, names),
        "lexical": lex,
        "semantic": semantic.metrics(d.embeddings, NO_EMBEDDINGS),
        "difficulty": hard,
        "entities": entities.metrics(d.sample(entities.SAMPLE_ROWS).frame.collect(), d.fields),
    }
    sims = semantic.pair_similarities(d.embeddings) if d.embeddings is not None else np.zeros(0)
    return out, {"lengths": lengths, "pvi": pvi, "similarities": sims}


def size_dependent(d: Dataset, names: list[str], whole: dict) -> dict:
    """The metrics that grow or shrink with the number of rows, for two sets of equal size; `whole` is
    the metrics of the set `d` was sampled from, reused when the sample is all of it."""
    if d.rows == whole["rows"]:
        lex, sem, hard = whole["lexical"], whole["semantic"], whole["difficulty"]
    else:
        lex = lexical.metrics(d.frame, d.fields)[0]
        sem = semantic.metrics(d.embeddings, NO_EMBEDDINGS)
        hard = difficulty.metrics(d.frame, d.fields, names)[0]
    return {
        **{k: lex[k] for k in ("vocabulary", "distinct_1", "distinct_2", "distinct_3", "mattr")},
        "vendi": sem.get("vendi"),
        "mean_cosine": sem.get("mean_cosine"),
        "v_information": hard.get("v_information"),
    }


def figures_of(described: dict, drawn: dict) -> dict[str, bytes]:
    fields = next(iter(drawn.values()))["lengths"]
    out = {
        f"length_{f}": plots.histograms(
            {k: v["lengths"][f] for k, v in drawn.items()}, f"words per {f}", "words", counts=True
        )
        for f in fields
    }
    out["pvi"] = plots.histograms({k: v["pvi"] for k, v in drawn.items()}, "PVI per row (held out)", "bits")
    out["similarity"] = plots.histograms(
        {k: v["similarities"] for k, v in drawn.items()},
        f"cosine similarity of row pairs (n: pairs among at most {semantic.HISTOGRAM_ROWS:,} rows of each set)",
        "cosine",
    )
    split_labels = described["synthetic"]["labels"]
    out["labels"] = plots.bars(split_labels, "synthetic rows per label and split", "rows")
    out["entity_types"] = plots.bars(
        {k: v["entities"]["types"] for k, v in described.items()}, "entity mentions by type", "share of mentions"
    )
    return out
