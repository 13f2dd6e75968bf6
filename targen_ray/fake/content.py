"""What the fake server answers, by step: parsed from the prompt the pipeline rendered, shaped by the
schema the request carries (its name says task and step, its enum says the labels)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from . import tasks
from .prompt import grab
from .tasks import generic
from .words import ASPECTS, ERAS, TOPICS


@dataclass(frozen=True)
class ContentConfig:
    wrong_label_rate: float = 0.15  # generated instances whose true label is not the one claimed
    duplicate_rate: float = 0.1  # seeds that are a light edit of another seed in the same answer
    violation_rate: float = 0.0  # declared tasks: answers that break a check the request states
    # Per judge model: the share of step-4 verdicts that name a wrong label, drawn per (model, prompt) so
    # judges err independently of each other and the same way on every try.
    judge_error_rates: dict[str, float] = field(default_factory=dict)


class UnknownStep(ValueError):
    pass


def _count(schema: dict, key: str, prompt: str, pattern: str, default: str) -> int:
    """How many items the step asks for: the schema's own count where it has one, else the prompt's."""
    return int(schema.get("properties", {}).get(key, {}).get("minItems") or grab(pattern, prompt, default))


def _contexts(prompt: str, rng: random.Random, cfg: ContentConfig, schema: dict) -> dict:
    n = _count(schema, "contexts", prompt, r"List (\d+)", "10")
    pool = [" ".join(filter(None, (t, a, e))) for t in TOPICS for a in ASPECTS for e in ERAS]  # 3,600
    return {"contexts": rng.sample(pool, min(n, len(pool)))}


def _seeds(task, prompt: str, rng: random.Random, cfg: ContentConfig, schema: dict) -> dict:
    n = _count(schema, "seeds", prompt, r"Write (\d+)", "5")
    setting = grab(r"Setting: ([^\n]*)", prompt, "local history")
    out: list[str] = []
    for _ in range(n):
        dup = out and rng.random() < cfg.duplicate_rate
        out.append(task.near_duplicate(rng, rng.choice(out)) if dup else task.seed(rng, setting))
    return {"seeds": out}


TASKS = tasks.modules()


def answer(schema_name: str, schema: dict, prompt: str, rng: random.Random, cfg: ContentConfig) -> dict:
    task_name, _, step = schema_name.rpartition("_")
    if schema_name == "targen_probe":  # the structured-output probe: the value its schema forces
        return {k: p["enum"][0] for k, p in schema.get("properties", {}).items() if p.get("enum")}
    task = TASKS.get(task_name, generic)  # a task with no module of its own: answered from the request
    if not task_name or step not in ("contexts", "seeds", "generate", "correct"):
        raise UnknownStep(f"the fake server does not know schema {schema_name!r}")
    if step == "contexts":
        return _contexts(prompt, rng, cfg, schema)
    if step == "seeds":
        return _seeds(task, prompt, rng, cfg, schema)
    return getattr(task, step)(prompt, rng, cfg, schema)


def fallible(result: dict, schema_name: str, schema: dict, model: str, prompt: str, cfg: ContentConfig) -> dict:
    """A step-4 verdict as a fallible judge gives it: at its model's error rate, another label than the
    one it found (a labelled task; an answer task's verdict is left as it is)."""
    rate = cfg.judge_error_rates.get(model, 0.0)
    labels = schema.get("properties", {}).get("label", {}).get("enum", [])
    if not rate or not schema_name.endswith("_correct") or len(labels) < 2 or "answer" in schema["properties"]:
        return result
    rng = random.Random(f"judge-error|{model}|{prompt}")
    if rng.random() >= rate:
        return result
    wrong = rng.choice([label for label in labels if label != result["label"]])
    return {**result, "label": wrong, "rationale": f"On reflection the instance reads as {wrong}."}


def tokens(text: str) -> int:
    """Roughly what a BPE tokenizer counts for English: 4 tokens per 3 words."""
    return max(1, len(text.split()) * 4 // 3)
