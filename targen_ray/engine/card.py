"""The published dataset's README.md: a Hugging Face dataset card, YAML front matter (configs, splits,
features, task categories, size category, license) then prose on how the data was made and what it is
not. Everything comes from the run directory (summary.json, and report/metrics.json when present)."""

from __future__ import annotations

import json

import pyarrow as pa
import yaml

from ..config import SPLITS
from .tasks import Task

SIZES = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")]
DTYPES = {pa.string(): "string", pa.int32(): "int32", pa.int64(): "int64", pa.bool_(): "bool", pa.float32(): "float32"}


def _lists(type_: pa.DataType) -> bool:
    """A struct of lists is Hugging Face's Sequence of dicts (SQuAD's answers, ReCoRD's entity_spans)."""
    return pa.types.is_struct(type_) and all(pa.types.is_list(f.type) for f in type_)


def feature(name: str, type_: pa.DataType, label_names: tuple[str, ...]) -> dict:
    """One field as Hugging Face `dataset_info.features` YAML."""
    if name == "label" and len(label_names) > 1:
        return {"name": name, "dtype": {"class_label": {"names": {str(i): n for i, n in enumerate(label_names)}}}}
    if _lists(type_):
        return {"name": name, "sequence": [feature(f.name, f.type.value_type, ()) for f in type_]}
    if pa.types.is_struct(type_):
        return {"name": name, "struct": [feature(f.name, f.type, ()) for f in type_]}
    if pa.types.is_list(type_):
        inner = type_.value_type
        value = [feature(f.name, f.type, ()) for f in inner] if pa.types.is_struct(inner) else DTYPES[inner]
        return {"name": name, "sequence": value}
    return {"name": name, "dtype": DTYPES[type_]}


def hf_feature(name: str, type_: pa.DataType, label_names: tuple[str, ...]) -> dict:
    """One field as `datasets.Features.to_dict()` writes it: what Parquet schema metadata carries, so
    `load_dataset("parquet", ...)` reads class names and sequences without the card."""
    if name == "label" and len(label_names) > 1:
        return {"names": list(label_names), "_type": "ClassLabel"}
    if _lists(type_):
        return {"feature": {f.name: hf_feature(f.name, f.type.value_type, ()) for f in type_}, "_type": "Sequence"}
    if pa.types.is_struct(type_):
        return {f.name: hf_feature(f.name, f.type, ()) for f in type_}
    if pa.types.is_list(type_):
        return {"feature": hf_feature(name, type_.value_type, ()), "_type": "Sequence"}
    return {"dtype": DTYPES[type_], "_type": "Value"}


def hf_schema(task: Task) -> pa.Schema:
    """The task's record schema with its Hugging Face features in the metadata `datasets` reads."""
    features = {f.name: hf_feature(f.name, f.type, task.label_names) for f in task.record_schema}
    return task.record_schema.with_metadata({"huggingface": json.dumps({"info": {"features": features}})})


def size_category(rows: int) -> str:
    return next((label for limit, label in SIZES if rows < limit), "1M<n<10M")


def front_matter(task: Task, summary: dict, files: dict[str, list[dict]]) -> dict:
    """`files`: per split, the manifest entries of its data files."""
    splits = {s: summary["splits"][s]["rows"] for s in SPLITS if files.get(s)}
    return {
        "license": summary["generation"]["license"],
        "language": list(task.languages),
        "pretty_name": f"{summary['job']} (synthetic {task.name}, TarGEN)",
        "task_categories": list(task.task_categories),
        "size_categories": [size_category(sum(splits.values()))],
        "tags": ["synthetic", *(["superglue"] * (task.benchmark == "super_glue")), task.name, "targen", *task.tags],
        "configs": [{"config_name": "default", "data_files": [{"split": s, "path": f"data/{s}-*"} for s in splits]}],
        "dataset_info": {
            "features": [feature(f.name, f.type, task.label_names) for f in task.record_schema],
            "splits": [
                {"name": s, "num_bytes": sum(e["bytes"] for e in files[s]), "num_examples": n}
                for s, n in splits.items()
            ],
        },
    }


def render(
    task: Task,
    summary: dict,
    files: dict[str, list[dict]],
    metrics: dict | None,
    overridden: list[str] = (),
    audit: dict | None = None,
) -> str:
    """The card; `overridden`: the quality-gate failures `--force-publish` published over, said at the top;
    `audit`: `targen audit`'s figures when they are of these rows."""
    meta = yaml.safe_dump(front_matter(task, summary, files), sort_keys=False, allow_unicode=True)
    lines = [
        f"---\n{meta}---\n",
        f"# {summary['job']}: a synthetic {task.name} dataset\n",
        *_warnings(summary, overridden),
        _provenance(task, audit),
        *_method(summary["generation"]),
        *_splits(summary, files),
        *_panel_lines(summary.get("panel")),
        *_audit_lines(audit),
        "## Cost\n",
        f"{summary['requests']:,} requests, {summary['input_tokens']:,} input and {summary['output_tokens']:,} output "
        f"tokens, ${summary['usd']:,.2f} (every attempt, retries included).\n",
        *_analysis(metrics),
        *(evaluation_lines(metrics["evaluation"]) if metrics and metrics.get("evaluation") else []),
        *_limitations(task),
    ]
    return "\n".join(lines)


def _warnings(summary: dict, overridden: list[str]) -> list[str]:
    """What a reader must know first: published over the gate, or short of the splits asked for."""
    lines = []
    if overridden:
        lines.append(f"**Published over its quality gate** (`--force-publish`): {'; '.join(overridden)}.\n")
    if not summary["complete"]:
        short = ", ".join(f"{s} {v['rows']:,} of {v['target']:,}" for s, v in summary["splits"].items())
        lines.append(f"**Incomplete**: published short of the splits asked for ({short}).\n")
    return lines


def _provenance(task: Task, audit: dict | None) -> str:
    checked = "a sample was checked by people (Label accuracy, below)" if audit else "none was checked by a person"
    return "Written by large language models with targen-ray, an implementation of TarGEN on Ray. " + (
        f"It has the fields and types of the Hugging Face `super_glue` `{task.config}` config, but **it is not "
        f"SuperGLUE**: no row was written by a person, and {checked}.\n"
        if task.benchmark == "super_glue"
        else f"No row was written by a person, and {checked}.\n"
    )


def _method(gen: dict) -> list[str]:
    lines = [
        "## Task\n",
        f"{gen['description']}\n",
        "## How it was made\n",
        "1. contexts: distinct settings written from the task description alone;",
        "2. instance seeds: raw material per context (a passage, a sentence);",
        "3. label-constrained generation: each seed and a target label became one instance;",
        "4. self-correction: a judge re-read each instance and kept or changed its label;",
        "5. deduplication: exact duplicates, near-duplicates (embedding cosine and MinHash) and rows close to "
        "reference sets were dropped, and more rows were made in their place.\n",
        "| step | endpoints | models | prompt template (sha256) |",
        "|---|---|---|---|",
    ]
    for step, names in gen["steps"].items():
        models = ", ".join(sorted({gen["endpoints"][n]["model"] for n in names}))
        lines.append(f"| {step} | {', '.join(names)} | {models} | `{gen['prompts'].get(step, '')}` |")
    return lines


def _splits(summary: dict, files: dict[str, list[dict]]) -> list[str]:
    gen, rows, dedup = summary["generation"], summary["rows"], summary["dedup"]
    lines = [
        "",
        f"Job spec hash `{summary['spec_hash']}`; label names: {', '.join(gen['labels'])}.\n",
        "## Splits\n",
        "| split | rows | " + " | ".join(gen["labels"]) + " |",
        "|---|---|" + "---|" * len(gen["labels"]),
    ]
    for split in SPLITS:
        if files.get(split):
            s = summary["splits"][split]
            lines.append(f"| {split} | {s['rows']:,} | " + " | ".join(f"{n:,}" for n in s["labels"].values()) + " |")
    return [
        *lines,
        "",
        f"Rows planned {rows['planned']:,} = kept {rows['kept']:,} + rejected {rows['rejected']:,} + duplicates "
        f"{rows['deduplicated']:,} + surplus {rows['surplus']:,}. Self-correction changed {rows['self_corrected']:,} "
        f"labels. Deduplication dropped {dedup['exact']:,} exact and {dedup['near']:,} near duplicates "
        f"({dedup['cross_split']:,} across splits) and {dedup['contaminated']:,} rows close to a reference set.\n",
    ]


def _analysis(metrics: dict | None) -> list[str]:
    if not metrics:
        return []
    syn = metrics["datasets"]["synthetic"]
    lex, sem, hard = syn["lexical"], syn["semantic"], syn["difficulty"]
    lines = [
        "## Analysis\n",
        f"- distinct-2 {lex['distinct_2']}, moving-average type-token ratio {lex['mattr']}, vocabulary "
        f"{lex['vocabulary']:,} words",
    ]
    if sem["available"]:
        lines.append(
            f"- mean pairwise cosine {sem['mean_cosine']}, Vendi score {sem['vendi']} over {sem['rows']:,} rows"
        )
    if hard["available"]:
        lines.append(f"- V-information {hard['v_information']} bits ({hard['family']})")
    return [*lines, ""]


def _limitations(task: Task) -> list[str]:
    return [
        "## Limitations\n",
        "- Synthetic: passages, questions and labels were written by language models and can be wrong, "
        "repetitive, or biased the way those models are (topics, names, places, framing).",
        "- Labels were checked by a model (self-correction), not by people.",
        *(["- Scores on this data are not SuperGLUE scores."] if task.benchmark == "super_glue" else []),
        "",
        "## Files\n",
        "`data/<split>-*.parquet` in the layout the Hugging Face `datasets` library reads; `manifest.json` "
        "lists every file with its sha256 and row count (check them with `targen verify`).\n",
    ]


def evaluation_lines(ev: dict) -> list[str]:
    """`targen evaluate`'s table: what a small model trained on each set scored on the others."""
    lines = [
        "## What a small model trained on this data scored\n",
        f"{ev['family']}, each score with its 95% bootstrap interval (`targen evaluate`).\n",
        "| trained on | scored on | train rows | test rows | chance | scores |",
        "|---|---|---|---|---|---|",
    ]
    for p in ev["pairs"]:
        got = "; ".join(f"{k} {s['value']} [{s['low']}, {s['high']}]" for k, s in p.get("scores", {}).items())
        lines.append(
            f"| {p['train']} | {p['test']} | {p['train_rows']:,} | {p['test_rows']:,} | {p['chance']} | "
            f"{got or p.get('reason', '')} |"
        )
    return [*lines, ""]


def _panel_lines(panel: dict | None) -> list[str]:
    """The card's account of step 4's panel: who judged, how they decided, how far they agreed."""
    if not panel or not panel["rows"]:
        return []
    kappas = ", ".join(f"{pair.replace('~', ' and ')} {k}" for pair, k in panel["cohen_kappa"].items())
    flips = ", ".join(f"{judge} {rate}" for judge, rate in panel["flip_rate"].items())
    return [
        "## Judge panel\n",
        f"Step 4 was judged by a panel of {len(panel['judges'])} ({', '.join(panel['judges'])}), deciding each "
        f"row's {panel['by']} by {panel['vote']} vote; {100 * panel['split_vote_share']:.1f}% of "
        f"{panel['rows']:,} rows were decided by a split vote. Fleiss' kappa {panel['fleiss_kappa']}; pairwise "
        f"Cohen's kappa {kappas}. Each judge's flip rate (its label differs from step 3's): {flips}.\n",
    ]


def _audit_lines(audit: dict | None) -> list[str]:
    """The card's label accuracy, from a human-reviewed sample of these rows (`targen audit`)."""
    if not audit:
        return ["## Label accuracy\n", "No human audit of these rows (`targen review`, then `targen audit`).\n"]
    acc, step3 = audit["accuracy"], audit["step3_accuracy"]
    judges = ", ".join(f"{name} {j['value']}" for name, j in audit["judges"].items())
    defects = ", ".join(f"{d} {share:.1%}" for d, share in audit["defect_rates"].items()) or "none"
    return [
        "## Label accuracy\n",
        f"Reviewers ({', '.join(audit['reviewers'])}) checked {audit['rows']:,} final rows: "
        f"{audit.get('by', 'label')} accuracy "
        f"**{acc['value']:.1%}** (95% Wilson interval {acc['low']:.1%}-{acc['high']:.1%}). "
        + (f"Step 3's labels alone would have scored {step3['value']:.1%}; " if step3["value"] is not None else "")
        + f"judges: {judges}. Defects: {defects}.\n",
    ]
