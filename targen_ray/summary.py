"""summary.json: rows per stage, rejects by reason, tokens and requests, and the counts identity."""

from __future__ import annotations

import hashlib
import json
from collections import Counter

import pyarrow as pa
import pyarrow.compute as pc

from . import panel
from .job import Job
from .plan import Quotas
from .spec import SPLITS, STEPS, judge_of, step_of
from .store import RunDir


def _rows(t: pa.Table | None) -> int:
    return 0 if t is None else t.num_rows


def _sum(t: pa.Table | None, col: str) -> int:
    return 0 if t is None else int(pc.sum(t[col]).as_py() or 0)


LEDGER_KEYS = ("requests", "input_tokens", "output_tokens", "usd", "rate_limited", "errors")


def _paid_tables(run: RunDir, stage: str, keys: list[str]) -> list[pa.Table]:
    """Those ledger columns (`<step>_<key>`) of every row a stage has paid for, one table per folder
    (never the row texts)."""
    columns = [f"{step_of(stage)}_{k}" for k in keys]
    return [t.rename_columns(keys) for t in (run.read(f, columns=columns) for f in run.paid(stage)) if t is not None]


def paying(job: Job, run: RunDir, step: str | None = None) -> list[str]:
    """The stages whose paid rows a step's cost counts (every step's: None): the job's, and for step 4
    any panel judge a `--force` dropped, whose answers stay in the run directory, paid for."""
    stages = [s for st in ([step] if step else STEPS) for s in job.stages(st)]
    if step in (None, "correct"):
        stages += [s for s in run.judge_stages() if s not in stages]
    return stages


def ledger(run: RunDir, stages: list[str]) -> dict[str, dict]:
    """Per endpoint, every attempt of every row of every paying stage: the durable cost ledger."""
    out: dict[str, dict] = {}
    for stage in stages:
        for table in _paid_tables(run, stage, ["ledger"]):
            for cell in table["ledger"].to_pylist():
                for endpoint, used in json.loads(cell).items():
                    entry = out.setdefault(endpoint, {"model": used["model"], **dict.fromkeys(LEDGER_KEYS, 0)})
                    for k in LEDGER_KEYS:
                        entry[k] += used[k]
    for probed in (run.read_json(run.structured_file()) or {}).values():  # the structured-output probes
        entry = out.setdefault(probed["endpoint"], {"model": probed["model"], **dict.fromkeys(LEDGER_KEYS, 0)})
        for k in ("requests", "input_tokens", "output_tokens", "usd", "errors"):
            entry[k] += probed[k]
    for entry in out.values():
        entry["usd"] = round(entry["usd"], 6)
    return out


def probes(run: RunDir) -> dict:
    """The probes' totals, counted in a run's requests, tokens and USD beside its stages'."""
    found = list((run.read_json(run.structured_file()) or {}).values())
    return {k: sum(p[k] for p in found) for k in ("requests", "input_tokens", "output_tokens", "usd")}


def spent_usd(run: RunDir, stages: list[str]) -> float:
    """What every attempt so far cost: an Arrow sum of each paying stage's USD column, no JSON parsed."""
    return probes(run)["usd"] + sum(
        pc.sum(t["usd"]).as_py() or 0.0 for s in stages for t in _paid_tables(run, s, ["usd"])
    )


def _usage(run: RunDir, stages: list[str]) -> dict:
    """Requests, tokens and USD of every row some stages paid for."""
    paid = [t for s in stages for t in _paid_tables(run, s, ["requests", "input_tokens", "output_tokens", "usd"])]
    usage = {k: sum(_sum(t, k) for t in paid) for k in ("requests", "input_tokens", "output_tokens")}
    return {**usage, "usd": round(sum(pc.sum(t["usd"]).as_py() or 0.0 for t in paid), 6)}


def _stage(run: RunDir, stage: str, paying: list[str], wall_s: float | None = None) -> dict:
    """A stage's rows (kept, rejected, retried) and what the stages that paid for them cost."""
    ok, bad = run.read(run.stage_dir(stage), columns=["id"]), run.read(run.rejects(stage), columns=["error"])
    out = {
        "inputs": _rows(ok) + _rows(bad),
        "kept": _rows(ok),
        "rejected": _rows(bad),
        "retried": _rows(run.read(run.retried(stage), columns=["id"])),
        **_usage(run, paying),
    }
    return out if wall_s is None else {**out, "wall_s": round(wall_s, 2)}


def build(
    job: Job,
    run: RunDir,
    quotas: Quotas,
    rounds: int,
    wall_s: float,
    stopped: str | None = None,
    stage_wall_s: dict | None = None,
    stalled: str | None = None,
) -> dict:
    stages, reasons = {}, Counter()
    for step in STEPS:
        stages[step] = _stage(run, step, paying(job, run, step), (stage_wall_s or {}).get(step, 0.0))
        bad = run.read(run.rejects(step), columns=["error"])
        if bad is not None:
            reasons.update(f"{step}: {r.split(':')[0]}" for r in bad["error"].to_pylist())
    if job.panel:  # each judge's own rows and cost; step 4's figures are the decided rows and the sum
        stages["correct"]["judges"] = {judge_of(s): _stage(run, s, [s]) for s in job.stages("correct")}

    final, labels, final_label = {}, job.spec.labels, job.task.lineage_name("final_label")
    for split in SPLITS:
        table = run.read(run.final(split), columns=[final_label])
        counts = Counter(table[final_label].to_pylist()) if table is not None else Counter()
        final[split] = {
            "rows": _rows(table),
            "target": sum(q for (s, _), q in quotas.items() if s == split),
            "labels": {labels[i]: counts.get(i, 0) for i in range(len(labels))},
            "label_targets": {labels[i]: quotas[(split, i)] for i in range(len(labels))},
        }
    corrected = run.read(run.stage_dir("correct"), columns=["corrected"])
    planned = stages["generate"]["inputs"]
    surplus = _rows(run.read(run.surplus(), columns=["id"]))
    kept = sum(f["rows"] for f in final.values())
    dedup = dedup_counts(run, stages["correct"]["kept"])
    rows = {
        "planned": planned,
        "kept": kept,
        "rejected": stages["generate"]["rejected"] + stages["correct"]["rejected"],
        "deduplicated": dedup["exact"] + dedup["near"] + dedup["contaminated"],
        "surplus": surplus,
        "self_corrected": _sum(corrected, "corrected") if corrected is not None else 0,
    }
    rows["counts_add_up"] = planned == rows["kept"] + rows["rejected"] + rows["deduplicated"] + rows["surplus"]
    complete = all(f["rows"] == f["target"] for f in final.values())
    probed = probes(run)
    return {
        "job": job.spec.name,
        "task": job.task.name,
        "spec_hash": job.spec.spec_hash(),
        "generation": generation(job),
        "gate": job.spec.gate.model_dump(),  # what `targen publish` refuses
        "complete": complete,
        "stopped": stopped,
        "short": None if complete else short(final, rounds, stalled, reasons),
        "rounds": rounds,
        "splits": final,
        "rows": rows,
        "dedup": dedup,
        "stages": stages,
        "rejects_by_reason": dict(reasons.most_common()),
        "panel": panel.figures(job, run),  # step 4's judges' agreement, when a panel votes
        "requests": sum(s["requests"] for s in stages.values()) + probed["requests"],
        "input_tokens": sum(s["input_tokens"] for s in stages.values()) + probed["input_tokens"],
        "output_tokens": sum(s["output_tokens"] for s in stages.values()) + probed["output_tokens"],
        "usd": round(sum(s["usd"] for s in stages.values()) + probed["usd"], 6),
        "ledger": ledger(run, paying(job, run)),
        # `auto` endpoints: the mode each was probed to, what it tried, and what probing cost (in the totals)
        "structured": {name: spec.structured_mode for name, spec in job.endpoints.items()},
        "probes": run.read_json(run.structured_file()) or {},
        "wall_time_s": round(wall_s, 2),
    }


def short(final: dict, rounds: int, stalled: str | None, reasons: Counter) -> dict:
    """Why a run that ended is not a dataset of the size asked for: which splits, and the top rejects."""
    top: dict[str, dict[str, int]] = {}
    for key, n in reasons.most_common():
        step, _, reason = key.partition(": ")
        if len(top.setdefault(step, {})) < 3:
            top[step][reason] = n
    return {
        "splits": {s: {"rows": f["rows"], "target": f["target"]} for s, f in final.items() if f["rows"] < f["target"]},
        "why": stalled or f"quotas not met after {rounds} rounds",
        "top_rejects": top,
    }


def short_line(short: dict) -> str:
    """summary.json's `short` as the last line a failed run prints."""
    splits = ", ".join(f"{s} {v['rows']}/{v['target']}" for s, v in short["splits"].items())
    rejects = "; ".join(
        f"{step}: " + ", ".join(f"{reason} x{n}" for reason, n in top.items())
        for step, top in short["top_rejects"].items()
    )
    return f"splits short of their targets: {splits} ({short['why']}); top rejects: {rejects or 'none'}"


def generation(job: Job) -> dict:
    """How the rows were made, for the dataset card and manifest: never a key or a key's variable."""
    return {
        "description": job.spec.description,
        "labels": job.spec.labels,
        "license": job.spec.license,
        "steps": {step: getattr(job.spec.steps, step).endpoints for step in STEPS},
        "endpoints": {name: {"provider": ep.provider, "model": ep.model} for name, ep in job.endpoints.items()},
        "prompts": {step: hashlib.sha256(src.encode()).hexdigest()[:16] for step, src in job.prompts.sources.items()},
    }


def dedup_counts(run: RunDir, corrected: int) -> dict:
    """Stage 5: of the rows stage 4 kept, how many were dropped as exact or near duplicates or as
    contaminated, how many of the duplicates were of a row in another split, and how many were kept."""
    dropped = run.read(run.stage_dir("dedup"), columns=["reason", "cross_split"])
    reasons = Counter(dropped["reason"].to_pylist()) if dropped is not None else Counter()
    out = {k: reasons.get(k, 0) for k in ("exact", "near", "contaminated")}
    out["cross_split"] = _sum(dropped, "cross_split") if dropped is not None else 0
    out["kept"] = corrected - _rows(dropped)
    return out


def versus(estimate: dict, stages: dict) -> dict:
    """Estimate next to actual, per step, for requests, tokens and USD."""
    keys = ("requests", "input_tokens", "output_tokens", "usd")
    return {step: {k: {"estimate": estimate[step][k], "actual": stages[step][k]} for k in keys} for step in stages}
