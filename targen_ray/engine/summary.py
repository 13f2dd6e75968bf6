"""summary.json: rows per stage, rejects by reason, tokens and requests, and the counts identity."""

from __future__ import annotations

import hashlib
import json
from collections import Counter

import pyarrow as pa
import pyarrow.compute as pc

from ..config import SPLITS, STEPS, judge_of, step_of
from . import panel
from .execute import intents
from .job import Job
from .plan import Quotas
from .providers.base import TOKENS
from .store import RunDir


def _rows(t: pa.Table | None) -> int:
    return 0 if t is None else t.num_rows


def _sum(t: pa.Table | None, col: str) -> int:
    return 0 if t is None else int(pc.sum(t[col]).as_py() or 0)


LEDGER_KEYS = ("requests", *TOKENS, "usd", "rate_limited", "errors")
USAGE = ("requests", *TOKENS)  # a stage's figures beside its USD
UNANSWERED = {"unanswered": 0, "unanswered_usd": 0.0}  # a ledger entry's requests sent, never answered


def _paid_tables(run: RunDir, stage: str, keys: list[str]) -> list[pa.Table]:
    """Those ledger columns (`<step>_<key>`) of every row a stage has paid for, a table per row group
    (never the row texts); null where rows from before a column existed lack it (the usage details).
    Rows without a USD column paid nothing: a panel's decided rows, which step 4's folders also hold
    (a `--force` between one judge and a panel leaves both kinds in superseded/correct)."""
    columns = [f"{step_of(stage)}_{k}" for k in keys]
    usd = f"{step_of(stage)}_usd"
    tables = [
        t
        for f in run.paid(stage)
        for t in run.iter_parts(f, columns=list(dict.fromkeys([*columns, usd])))
        if usd in t.column_names
    ]
    missing = pa.int64()  # the usage details' type
    return [
        pa.table(
            {k: t[c] if c in t.column_names else pa.nulls(len(t), missing) for k, c in zip(keys, columns, strict=True)}
        )
        for t in tables
    ]


def paying(job: Job, run: RunDir, step: str | None = None) -> list[str]:
    """The stages whose paid rows a step's cost counts (every step's: None): the job's, and for step 4
    every judge whose answers the run directory holds: a panel judge a `--force` dropped (its folder
    stays), and the single judge a panel replaced (its rows are in step 4's superseded folder)."""
    stages = [s for st in ([step] if step else STEPS) for s in job.stages(st)]
    if step in (None, "correct"):
        stages += [s for s in ["correct", *run.judge_stages()] if s not in stages]
    return stages


def ledger(run: RunDir, stages: list[str]) -> dict[str, dict]:
    """Per endpoint, every attempt of every row of every paying stage: the durable cost ledger; beside it
    the requests sent and never answered (`unanswered`, `unanswered_usd`: estimated, intents.py)."""
    out: dict[str, dict] = {}

    def entry(endpoint: str, model: str | None) -> dict:
        found = out.setdefault(endpoint, {"model": model, **dict.fromkeys(LEDGER_KEYS, 0)} | UNANSWERED)
        found["model"] = found["model"] or model
        return found

    for stage in stages:
        for table in _paid_tables(run, stage, ["ledger"]):
            for cell in table["ledger"].to_pylist():
                for endpoint, used in json.loads(cell).items():
                    found = entry(endpoint, used["model"])
                    for k in LEDGER_KEYS:
                        found[k] += used.get(k, 0)  # rows from before the usage details have none
    for probed in (run.read_json(run.structured_file()) or {}).values():  # the structured-output probes
        found = entry(probed["endpoint"], probed["model"])
        for k in ("requests", "input_tokens", "output_tokens", "usd", "errors"):
            found[k] += probed[k]
    for stage in stages:
        for endpoint, lost in intents.unanswered(run, stage).items():
            found = entry(endpoint, None)
            found["unanswered"] += lost["requests"]
            found["unanswered_usd"] += lost["usd"]
    for found in out.values():
        found["usd"], found["unanswered_usd"] = round(found["usd"], 6), round(found["unanswered_usd"], 6)
    return out


def unanswered(run: RunDir, stages: list[str]) -> dict:
    """Requests some stages sent that were never answered (their worker died), with estimated tokens and USD."""
    return _together([e for s in stages for e in intents.unanswered(run, s).values()])


def _together(lost: list[dict]) -> dict:
    out = {k: sum(e[k] for e in lost) for k in ("requests", "input_tokens", "output_tokens")}
    return {**out, "usd": round(sum(e["usd"] for e in lost), 6)}


def probes(run: RunDir) -> dict:
    """The probes' totals, counted in a run's requests, tokens and USD beside its stages'."""
    found = list((run.read_json(run.structured_file()) or {}).values())
    return {k: sum(p[k] for p in found) for k in ("requests", "input_tokens", "output_tokens", "usd")}


def spent_usd(run: RunDir, stages: list[str]) -> float:
    """What every attempt so far cost: an Arrow sum of each paying stage's USD column, no JSON parsed, and
    the estimate of the requests sent and never answered (paid for all the same)."""
    answered = sum(pc.sum(t["usd"]).as_py() or 0.0 for s in stages for t in _paid_tables(run, s, ["usd"]))
    return probes(run)["usd"] + answered + unanswered(run, stages)["usd"]


def _usage(run: RunDir, stages: list[str]) -> dict:
    """Requests, tokens and USD of every row some stages paid for; the requests they sent unanswered."""
    paid = [t for s in stages for t in _paid_tables(run, s, [*USAGE, "usd"])]
    usage = {k: sum(_sum(t, k) for t in paid) for k in USAGE}
    usd = round(sum(pc.sum(t["usd"]).as_py() or 0.0 for t in paid), 6)
    return {**usage, "usd": usd, "unanswered": unanswered(run, stages)}


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
    stages, reasons = _stages(job, run, stage_wall_s or {})
    final = _splits(job, run, quotas)
    dedup = dedup_counts(run, stages["correct"]["kept"])
    rows = _row_counts(run, stages, final, dedup)
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
        **totals(stages, probed),
        "ledger": ledger(run, paying(job, run)),
        # `auto` endpoints: the mode each was probed to, what it tried, and what probing cost (in the totals)
        "structured": {name: spec.structured_mode for name, spec in job.endpoints.items()},
        "probes": run.read_json(run.structured_file()) or {},
        "wall_time_s": round(wall_s, 2),
    }


def _stages(job: Job, run: RunDir, stage_wall_s: dict) -> tuple[dict, Counter]:
    """Each step's rows, requests and cost (a panel's judges each their own), and rejects by reason."""
    stages, reasons = {}, Counter()
    for step in STEPS:
        stages[step] = _stage(run, step, paying(job, run, step), stage_wall_s.get(step, 0.0))
        bad = run.read(run.rejects(step), columns=["error"])
        if bad is not None:
            reasons.update(f"{step}: {r.split(':')[0]}" for r in bad["error"].to_pylist())
    if job.panel:  # each judge's own rows and cost; step 4's figures are the decided rows and the sum
        stages["correct"]["judges"] = {judge_of(s): _stage(run, s, [s]) for s in job.stages("correct")}
    return stages, reasons


def _splits(job: Job, run: RunDir, quotas: Quotas) -> dict:
    """Each final split's rows and labels beside their targets."""
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
    return final


def _row_counts(run: RunDir, stages: dict, final: dict, dedup: dict) -> dict:
    """Where every planned row went: kept, rejected, dropped as a duplicate, or surplus (they add up)."""
    corrected = run.read(run.stage_dir("correct"), columns=["corrected"])
    rows = {
        "planned": stages["generate"]["inputs"],
        "kept": sum(f["rows"] for f in final.values()),
        "rejected": stages["generate"]["rejected"] + stages["correct"]["rejected"],
        "deduplicated": dedup["exact"] + dedup["near"] + dedup["contaminated"],
        "surplus": _rows(run.read(run.surplus(), columns=["id"])),
        "self_corrected": _sum(corrected, "corrected") if corrected is not None else 0,
    }
    made = rows["kept"] + rows["rejected"] + rows["deduplicated"] + rows["surplus"]
    return {**rows, "counts_add_up": rows["planned"] == made}


def totals(stages: dict, probed: dict) -> dict:
    """The run's requests, tokens and USD: its stages' and its probes'. `sent` counts the requests sent and
    never answered too, and `spent_usd` their estimated cost: paid for, in no answer."""
    out = {k: sum(s[k] for s in stages.values()) + probed.get(k, 0) for k in USAGE}
    out["usd"] = round(sum(s["usd"] for s in stages.values()) + probed["usd"], 6)
    out["unanswered"] = _together([s["unanswered"] for s in stages.values()])
    out["sent"] = out["requests"] + out["unanswered"]["requests"]
    out["spent_usd"] = round(out["usd"] + out["unanswered"]["usd"], 6)
    return out


def cost_line(summary: dict) -> str:
    """What the run sent and spent, as `targen run` prints it at the end."""
    lost, s = summary["unanswered"], summary
    tokens = (
        f"{s['input_tokens']:,} input tokens ({s['cached_input_tokens']:,} cached, {s['cache_write_tokens']:,} "
        f"written to the cache), {s['output_tokens']:,} output ({s['reasoning_tokens']:,} reasoning)"
    )
    unanswered = ""
    if lost["requests"]:  # paid for, their worker died before it could write what came back
        unanswered = f"; {lost['requests']:,} sent and never answered, ~${lost['usd']:,.4f} estimated"
    return f"cost: ${s['spent_usd']:,.4f} for {s['sent']:,} requests{unanswered}; {tokens}"


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
    """Estimate next to actual, per step, for requests, tokens and USD; the token kinds the estimate cannot
    know (how much the provider's cache serves, how long a model reasons) show as actual only (estimate None),
    and the requests sent and never answered beside the requests answered."""
    keys = ("requests", "input_tokens", "output_tokens", "usd")
    return {
        step: {k: {"estimate": estimate[step][k], "actual": stages[step][k]} for k in keys}
        | {k: {"estimate": None, "actual": stages[step][k]} for k in TOKENS if k not in keys}
        | {"unanswered": {"estimate": None, "actual": stages[step]["unanswered"]["requests"]}}
        for step in stages
    }
