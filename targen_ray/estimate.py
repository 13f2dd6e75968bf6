"""`targen estimate`: requests, tokens, dollars and the time the rate limits imply, before any spend.

Prompt tokens come from rendering the job's own templates with text of the task's typical lengths;
outputs from the task's typical lengths, capped by each step's max_tokens. Tokens are counted the way
the pool reserves them (about four characters per token), so estimate and reservations agree.
"""

from __future__ import annotations

import math

from . import plan
from .job import Job
from .pool import estimate_tokens
from .spec import STEPS
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


def _tokens(job: Job, step: str) -> tuple[int, int]:
    """(input, output) tokens of one typical request of `step`."""
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
    return estimate_tokens(SYSTEM + prompt), min(outputs[step], job.sampling(step)[0])


def _minutes(job: Job, step: str, requests: int, tokens_in: int, tokens_out: int) -> float | None:
    """Minutes the pool's rate limits imply, or None when an endpoint in it has no limit configured."""
    pool = [spec for _, spec in job.pool(step)]
    if any(not (e.rpm or e.tpm or e.itpm or e.otpm) for e in pool):
        return None
    need = {"rpm": requests, "tpm": tokens_in + tokens_out, "itpm": tokens_in, "otpm": tokens_out}
    return max(need[k] / total for k in need if (total := sum(getattr(e, k) or 0 for e in pool)))


def estimate(job: Job, limit: int | None = None) -> dict:
    calls, out = _calls(job, limit), {}
    for step in STEPS:
        per_in, per_out = _tokens(job, step)
        n = calls[step]
        pool = [spec for _, spec in job.pool(step)]
        weight = sum(e.weight for e in pool)
        usd = sum(e.weight / weight * e.price.usd(n * per_in, n * per_out) for e in pool)
        out[step] = {
            "requests": n,
            "input_tokens": n * per_in,
            "output_tokens": n * per_out,
            "usd": round(usd, 4),
            "minutes": _minutes(job, step, n, n * per_in, n * per_out),
        }
    known = [s["minutes"] for s in out.values()]
    out["total"] = {
        k: sum(s[k] for s in out.values()) for k in ("requests", "input_tokens", "output_tokens", "usd")
    } | {"minutes": sum(known) if None not in known else None}
    return out


def table(result: dict) -> str:
    lines = [f"{'step':<10}{'requests':>11}{'input tok':>14}{'output tok':>14}{'USD':>12}{'time (limits)':>16}"]
    for step, s in result.items():
        time = "no limit set" if s["minutes"] is None else _duration(s["minutes"])
        lines.append(
            f"{step:<10}{s['requests']:>11,}{s['input_tokens']:>14,}{s['output_tokens']:>14,}{s['usd']:>12,.2f}{time:>16}"
        )
    return "\n".join(lines)


def _duration(minutes: float) -> str:
    return f"{minutes:.1f} min" if minutes < 120 else f"{minutes / 60:.1f} h"
