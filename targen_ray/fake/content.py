"""What the fake server answers, by step: parsed from the prompt the pipeline rendered, shaped by the
schema the request carries (its name says task and step, its enum says the labels)."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from . import boolq
from .words import ERAS, TOPICS


@dataclass(frozen=True)
class ContentConfig:
    wrong_label_rate: float = 0.15  # generated instances whose true label is not the one claimed
    duplicate_rate: float = 0.1  # seeds that are a light edit of another seed in the same answer


class UnknownStep(ValueError):
    pass


def _grab(pattern: str, prompt: str, default: str = "") -> str:
    m = re.search(pattern, prompt, re.S)
    return m.group(1).strip() if m else default


def _contexts(prompt: str, rng: random.Random, cfg: ContentConfig, schema: dict) -> dict:
    n = int(_grab(r"List (\d+)", prompt, "10"))
    pool = [f"{t} {e}" for t in TOPICS for e in ERAS]
    return {"contexts": rng.sample(pool, min(n, len(pool)))}


def _seeds(prompt: str, rng: random.Random, cfg: ContentConfig, schema: dict) -> dict:
    n = int(_grab(r"Write (\d+)", prompt, "5"))
    setting = _grab(r"Setting: ([^\n]*)", prompt, "local history")
    out: list[str] = []
    for _ in range(n):
        dup = out and rng.random() < cfg.duplicate_rate
        out.append(boolq.near_duplicate(rng, rng.choice(out)) if dup else boolq.passage(rng, setting))
    return {"seeds": out}


def _boolq_generate(prompt: str, rng: random.Random, cfg: ContentConfig, schema: dict) -> dict:
    labels = schema["properties"]["label"]["enum"]  # [false-ish, true-ish]
    text = _grab(r"Passage:\n(.*?)\n\nRequired answer:", prompt)
    target = _grab(r"Required answer: (\S+)", prompt).strip('".')
    target = target if target in labels else labels[1]
    fact = boolq.FACT.search(text)
    if not fact:
        return {"question": "Is the passage about history?", "label": target}
    truth = labels.index(target) == 1
    if rng.random() < cfg.wrong_label_rate:
        truth = not truth  # planted: the question's real answer is not the label it claims
    return {"question": boolq.question(fact.groupdict(), truth, rng), "label": target}


def _boolq_correct(prompt: str, rng: random.Random, cfg: ContentConfig, schema: dict) -> dict:
    labels = schema["properties"]["label"]["enum"]
    proposed = _grab(r"Proposed answer: (\S+)", prompt).strip('".')
    truth = boolq.truth_of(_grab(r"Passage:\n(.*?)\n\nQuestion:", prompt), _grab(r"Question: ([^\n]*)", prompt))
    if truth is None:
        return {"rationale": "The passage does not settle the question.", "label": proposed or labels[0]}
    label = labels[int(truth)]
    verdict = "agrees with" if label == proposed else "contradicts"
    return {"rationale": f"The passage {verdict} the proposed answer.", "label": label}


HANDLERS = {
    ("boolq", "contexts"): _contexts,
    ("boolq", "seeds"): _seeds,
    ("boolq", "generate"): _boolq_generate,
    ("boolq", "correct"): _boolq_correct,
}


def answer(schema_name: str, schema: dict, prompt: str, rng: random.Random, cfg: ContentConfig) -> dict:
    task, _, step = schema_name.rpartition("_")
    handler = HANDLERS.get((task, step))
    if handler is None:
        raise UnknownStep(f"the fake server does not know schema {schema_name!r}")
    return handler(prompt, rng, cfg, schema)


def tokens(text: str) -> int:
    """Roughly what a BPE tokenizer counts for English: 4 tokens per 3 words."""
    return max(1, len(text.split()) * 4 // 3)
