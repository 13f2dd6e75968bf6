"""`targen estimate`: requests, tokens, dollars and the time the rate limits imply, before any spend.

Prompt tokens come from rendering the job's own templates with text of the task's typical lengths;
outputs from the task's typical lengths, capped by each step's max_tokens. Tokens are counted the way
the pool reserves them (about four characters per token), so estimate and reservations agree.
"""

from __future__ import annotations

import math

from ..config import STEPS, step_of
from ..config.kinds import KINDS
from . import plan
from .job import Job
from .providers.base import estimate_tokens
from .steps.base import SYSTEM
from .steps.contexts import PER_CALL

CONTEXT_TOKENS = 8  # a setting is a short phrase
RATIONALE_TOKENS = 50


def _words(tokens: int) -> str:
    return " ".join(["word"] * max(1, tokens * 3 // 4))


def _typical(schema: dict, text: str) -> dict:
    """A stand-in for what step 3 returns, by the schema's property types: text of typical length for
    strings (and lists of strings), 1 for numbers."""
    values = {"string": text, "array": [text], "integer": 1, "number": 1.0, "boolean": True}
    return {name: values.get(prop.get("type"), text) for name, prop in schema["properties"].items()}


def _calls(job: Job, limit: int | None) -> dict[str, int]:
    spec = job.spec
    quotas = plan.quotas(spec, limit)
    planned = len(plan.slots(quotas, spec.overgenerate, spec.name, 0))
    contexts = min(spec.contexts, max(1, math.ceil(sum(quotas.values()) / spec.seeds_per_context)))
    return {
        "contexts": math.ceil(contexts / PER_CALL),
        "seeds": math.ceil(planned / spec.seeds_per_context),
        "generate": planned,
        "correct": planned,
    }


def _tokens(job: Job, stage: str) -> tuple[int, int]:
    """(input, output) tokens of one typical request of `stage`."""
    step = step_of(stage)
    task, spec, render = job.task, job.spec, job.prompts.renderer().render
    labels = list(spec.labels)
    common = {"task": task.name, "description": spec.description}
    seed, instance = _words(task.seed_tokens), _words(task.instance_tokens)
    variables = {
        "contexts": {"n": PER_CALL},
        "seeds": {"context": _words(CONTEXT_TOKENS), "n": spec.seeds_per_context, "seed_noun": task.seed_noun},
        "generate": {
            "context": _words(CONTEXT_TOKENS),
            "seed": seed,
            "seed_noun": task.seed_noun,
            "label": labels[0],
            "labels": labels,
            "guidance": task.guidance.get(task.label_names[0], ""),
        },
        "correct": {
            "instance": task.build(seed, _typical(task.instance_schema, instance)),
            "label": labels[0],
            "labels": labels,
        },
    }[step]
    outputs = {
        "contexts": PER_CALL * CONTEXT_TOKENS,
        "seeds": spec.seeds_per_context * task.seed_tokens,
        "generate": task.instance_tokens,
        "correct": RATIONALE_TOKENS,
    }
    prompt = render(step, **common, **variables)
    return estimate_tokens(SYSTEM + prompt), min(outputs[step], job.sampling(stage)[0])


def _minutes(job: Job, step: str, requests: int, tokens_in: int, tokens_out: int) -> float | None:
    """Minutes the pool's rate limits imply, or None when an endpoint in it has no limit configured."""
    pool = [spec for _, spec in job.pool(step)]
    if any(not (e.rpm or e.tpm or e.itpm or e.otpm) for e in pool):
        return None
    need = {"rpm": requests, "tpm": tokens_in + tokens_out, "itpm": tokens_in, "otpm": tokens_out}
    return max(need[k] / total for k in need if (total := sum(getattr(e, k) or 0 for e in pool)))


BATCH_WINDOW_H = 24  # both providers' completion window: a batch ends within it, often far sooner


def _stage(job: Job, stage: str, n: int) -> dict:
    """One stage's `n` requests: tokens, USD three ways, and the minutes its pool's limits imply."""
    per_in, per_out = _tokens(job, stage)
    pool = [spec for _, spec in job.pool(stage)]
    weight = sum(e.weight for e in pool)

    def usd(price_of) -> float:
        return round(sum(e.weight / weight * price_of(e).usd(n * per_in, n * per_out) for e in pool), 4)

    batch = job.batch_endpoint(stage) is not None
    minutes = _minutes(job, stage, n, n * per_in, n * per_out)
    return {
        "requests": n,
        "input_tokens": n * per_in,
        "output_tokens": n * per_out,
        "usd": usd(lambda e: e.batch_price if e.mode == "batch" else e.price),
        "usd_online": usd(lambda e: e.price),
        "usd_batch": usd(lambda e: e.batch_price) if all(KINDS[e.provider].batch for e in pool) else None,
        "batch": batch,
        "minutes_online": minutes,
        "minutes": None if batch else minutes,
    }


def _together(stages: list[dict]) -> dict:
    """Stages run one after another (a panel's judges): their sums, unknown where one is unknown."""

    def total(k: str):
        values = [s[k] for s in stages]
        return None if None in values else sum(values)

    keys = ("requests", "input_tokens", "output_tokens", "usd", "usd_online", "usd_batch", "minutes_online")
    out = {k: total(k) for k in keys} | {"batch": any(s["batch"] for s in stages)}
    known = [s["minutes"] for s in stages if not s["batch"]]
    return out | {"minutes": sum(known) if known and None not in known else None}


def estimate(job: Job, limit: int | None = None) -> dict:
    """Per step and in total: requests, tokens, USD as the job is configured (`usd`), USD were every
    endpoint online (`usd_online`) or on its Batch API (`usd_batch`: None where a provider has none),
    minutes the rate limits imply for online requests, and whether the step runs as batches."""
    calls, out = _calls(job, limit), {}
    for step in STEPS:
        each = [_stage(job, stage, calls[step]) for stage in job.stages(step)]
        out[step] = each[0] if len(each) == 1 else _together(each)  # a panel: every judge answers every row
    steps = list(out.values())
    known = [s["minutes"] for s in steps if not s["batch"]]
    online = [s["minutes_online"] for s in steps]
    out["total"] = {k: sum(s[k] for s in steps) for k in ("requests", "input_tokens", "output_tokens", "usd")} | {
        "usd_online": sum(s["usd_online"] for s in steps),
        "usd_batch": None if any(s["usd_batch"] is None for s in steps) else sum(s["usd_batch"] for s in steps),
        "batch": any(s["batch"] for s in steps),
        "minutes": sum(known) if known and None not in known else None,
        "minutes_online": sum(online) if None not in online else None,
    }
    return out


def table(result: dict) -> str:
    head = f"{'step':<10}{'requests':>11}{'input tok':>14}{'output tok':>14}{'USD':>11}{'online':>11}{'batch':>11}"
    lines = [f"{head}  time"]
    for step, s in result.items():
        time = "no limit set" if s["minutes"] is None else _duration(s["minutes"])
        if s["batch"]:
            only_batches = step != "total" or all(r["batch"] for r in result.values())
            time = f"<= {BATCH_WINDOW_H} h (batch)" if only_batches else f"{time} + batches"
        batch = "-" if s["usd_batch"] is None else f"{s['usd_batch']:,.2f}"
        lines.append(
            f"{step:<10}{s['requests']:>11,}{s['input_tokens']:>14,}{s['output_tokens']:>14,}{s['usd']:>11,.2f}"
            f"{s['usd_online']:>11,.2f}{batch:>11}  {time}"
        )
    total = result["total"]
    known = total["minutes_online"] is not None
    online = (
        f"{_duration(total['minutes_online'])} at the rate limits" if known else "time unknown (no rate limits set)"
    )
    lines.append(f"USD is the job as configured. Every step online: ${total['usd_online']:,.2f}, {online}.")
    if total["usd_batch"] is not None:
        lines.append(
            f"Every step on its Batch API: ${total['usd_batch']:,.2f}; each batch ends within {BATCH_WINDOW_H} h "
            f"(often minutes), and the {len(result) - 1} steps of a round run one after another."
        )
    return "\n".join(lines)


def _duration(minutes: float) -> str:
    return f"{minutes:.1f} min" if minutes < 120 else f"{minutes / 60:.1f} h"
