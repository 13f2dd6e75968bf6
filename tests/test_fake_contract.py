"""The fake answers from the prompts the pipeline renders: for every shipped job, each step's template is
rendered as a worker renders it, the fake's answer to it is read back by the step, and every pattern the
fake looks for in a prompt is found there. A template edit that the fake no longer reads fails here,
not as a silently defaulted rehearsal run."""

from __future__ import annotations

import json
import random
import sys

import pytest
from conftest import ROOT

from targen_ray.engine import job as job_mod
from targen_ray.engine.steps import STEP_CLASSES
from targen_ray.fake import prompt as fake_prompt
from targen_ray.fake.content import ContentConfig, answer

JOBS = sorted(p.stem for p in (ROOT / "jobs").glob("*.yaml"))
EXACT = ContentConfig(wrong_label_rate=0.0, duplicate_rate=0.0)


@pytest.fixture
def strict_grab(monkeypatch):
    """Every `grab` the fake makes: the patterns that found nothing in the prompt."""
    missed, real = [], fake_prompt.grab

    def grab(pattern: str, prompt: str, default: str = "") -> str:
        found = real(pattern, prompt, "\0")
        if found == "\0":
            missed.append(pattern)
            return default
        return found

    for name, module in list(sys.modules.items()):
        if name.startswith("targen_ray.fake") and getattr(module, "grab", None) is real:
            monkeypatch.setattr(module, "grab", grab)
    return missed


def ask(step, row: dict, seed: int) -> dict:
    request = step.request(row, attempt=0)
    reply = answer(request.schema_name, request.schema, request.prompt, random.Random(seed), EXACT)
    parsed = step.check(json.dumps(reply), row)
    assert isinstance(parsed, dict), f"{step.name}: {parsed}"
    return parsed


@pytest.mark.parametrize("name", JOBS)
def test_the_fake_reads_every_shipped_template(name, strict_grab, monkeypatch):
    monkeypatch.setenv("FAKE_API_KEY", "x")
    job = job_mod.load(ROOT / "jobs" / f"{name}.yaml", ROOT / "jobs" / "endpoints" / "fake.yaml")
    steps = {s: cls(job) for s, cls in STEP_CLASSES.items()}
    contexts = ask(steps["contexts"], {"id": "c0", "n": 3}, 0)
    context = contexts["contexts"][0] if "contexts" in contexts else "a harbour town in the 1890s"
    seeds = ask(steps["seeds"], {"id": "s0", "context": context, "n": job.spec.seeds_per_context}, 1)["seeds"]
    for target in range(len(job.spec.labels)):
        row = {"id": f"g{target}", "context": context, "seed": seeds[target % len(seeds)], "target_label": target}
        made = ask(steps["generate"], row, 2 + target)
        assert made["initial_label"] == target  # the fake wrote the label the prompt asked for
        judged = ask(steps["correct"], {**row, **made}, 20 + target)
        assert judged["final_label"] == target  # and the judge, reading the instance, agrees with it
    assert strict_grab == [], f"patterns the fake looked for and {name}'s prompts lack"
