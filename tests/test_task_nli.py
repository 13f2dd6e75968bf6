"""The entailment family (CB, RTE, AX-b, AX-g): end to end on real Ray against the fake provider, and the
task's build, checks and SuperGLUE layout on hand-made rows."""

from __future__ import annotations

import dataclasses
import json
import random
import re
from collections import Counter
from types import SimpleNamespace

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import ROOT

from targen_ray.config import SPLITS, load_job
from targen_ray.engine import job as job_mod
from targen_ray.engine import plan
from targen_ray.engine.export import export_superglue
from targen_ray.engine.prompts import PromptSet
from targen_ray.engine.runner import run
from targen_ray.engine.split import LINEAGE
from targen_ray.engine.store import RunDir
from targen_ray.engine.tasks import get_task
from targen_ray.fake.tasks import nli as fake_nli

LIMIT = 24
NAMES = ["cb", "rte", "axb", "axg"]
# The original SuperGLUE JSONL keys (AX-g lines also carry pair_id) and export file names.
LAYOUT = {
    "cb": ({"premise", "hypothesis", "idx", "label"}, {"train": "train.jsonl", "test": "test.jsonl"}),
    "rte": ({"premise", "hypothesis", "idx", "label"}, {"train": "train.jsonl", "test": "test.jsonl"}),
    "axb": ({"sentence1", "sentence2", "idx", "label"}, {"test": "AX-b.jsonl"}),
    "axg": ({"premise", "hypothesis", "idx", "label", "pair_id"}, {"test": "AX-g.jsonl"}),
}


@pytest.mark.parametrize("name", NAMES)
def test_nli_end_to_end(ray_session, fake, tmp_path, name):
    task = get_task(name)
    job = job_mod.load(ROOT / "jobs" / f"{name}.yaml", fake.endpoints(writer="openai", judge="anthropic"))
    # Enough planned extra that the 20% planted (and then flipped) labels rarely leave a quota short: one
    # round instead of a top-up round of a handful of rows keeps the test fast.
    job = dataclasses.replace(job, spec=job.spec.model_copy(update={"overgenerate": 0.5}))
    run_dir = tmp_path / "run"
    summary = run(job, str(run_dir), limit=LIMIT, in_driver=True)

    quotas = plan.quotas(job.spec, LIMIT)
    assert sum(quotas.values()) == LIMIT
    lineage = [out for out, _ in LINEAGE]
    first, second = task.record_schema.names[:2]
    for split in SPLITS:
        expected = {lbl: quotas[(split, lbl)] for lbl in range(len(task.label_names))}
        if not sum(expected.values()):  # the diagnostics have no train or validation split
            assert not (run_dir / RunDir.final(split)).exists()
            assert summary["splits"][split]["rows"] == 0
            continue
        table = pq.read_table(run_dir / RunDir.final(split))
        assert pa.schema(list(table.schema)[:4]) == task.record_schema
        assert table.column_names[4:] == lineage
        assert sorted(table["idx"].to_pylist()) == list(range(table.num_rows))
        assert Counter(table["label"].to_pylist()) == Counter({k: v for k, v in expected.items() if v})
        for row in table.to_pylist():
            fields = {first: row[first], second: row[second]}
            assert task.check(fields) is None
            assert row["corrected"] == (row["final_label"] != row["initial_label"])
            # The fake plants wrong labels in 20% of generations; each kept label must be the pair's truth.
            assert fake_nli.label_of(job.spec.labels, row[first], row[second]) == job.spec.labels[row["label"]]

    assert summary["complete"] and summary["rows"]["counts_add_up"]
    assert summary["rows"]["kept"] == LIMIT
    assert summary["rows"]["self_corrected"] > 0

    keys, files = LAYOUT[name]
    written = export_superglue(task, RunDir(str(run_dir)))
    assert set(files.values()) <= set(written)
    for split, file in files.items():
        lines = [json.loads(x) for x in (run_dir / RunDir.superglue() / file).read_text().splitlines()]
        assert len(lines) == summary["splits"][split]["rows"] == written[file]
        assert all(set(line) == keys and line["label"] in task.label_names for line in lines)
    if name in ("axb", "axg"):
        assert list(written) == [files["test"]]


def test_jobs_match_the_tasks():
    """Label words are the SuperGLUE names in label order; the diagnostics are test-only."""
    sizes = {"cb": (250, 56, 250), "rte": (2490, 277, 3000), "axb": (0, 0, 1104), "axg": (0, 0, 356)}
    for name in NAMES:
        spec = load_job(ROOT / "jobs" / f"{name}.yaml")
        assert (spec.task, tuple(spec.labels)) == (name, get_task(name).label_names)
        assert tuple(spec.splits.model_dump().values()) == sizes[name]
        if name in ("axb", "axg"):  # --limit scales the test split only
            assert plan.split_sizes(spec, 30) == {"train": 0, "validation": 0, "test": 30}


def test_record_schemas_are_the_hf_features():
    pair = [("premise", pa.string()), ("hypothesis", pa.string()), ("idx", pa.int32()), ("label", pa.int64())]
    for name in ("cb", "rte", "axg"):
        assert get_task(name).record_schema == pa.schema(pair)
    axb = [("sentence1", pa.string()), ("sentence2", pa.string()), *pair[2:]]
    assert get_task("axb").record_schema == pa.schema(axb)
    assert get_task("cb").label_names == ("entailment", "contradiction", "neutral")
    assert {get_task(n).label_names for n in ("rte", "axb", "axg")} == {("entailment", "not_entailment")}
    assert {get_task(n).config for n in NAMES} == set(NAMES)


def test_build_keeps_the_premise_and_cleans_the_hypothesis():
    cb = get_task("cb")
    seed = "  A: Did they sell it? B: I know that\nthey sold the farm.  "
    assert cb.build(seed, {"hypothesis": '  "they sold\n the farm"  '}) == {
        "premise": "A: Did they sell it? B: I know that\nthey sold the farm.",
        "hypothesis": "they sold the farm",
    }
    axb = get_task("axb").build("The cat sat on the mat.", {"sentence2": "The cat did not sit on the mat."})
    assert axb == {"sentence1": "The cat sat on the mat.", "sentence2": "The cat did not sit on the mat."}


PREMISE = "A: Any news from the harbour? B: I don't think that the ferry left on time. I wonder why."


@pytest.mark.parametrize(
    ("name", "fields", "reason"),
    [
        ("cb", {"premise": "", "hypothesis": "the ferry left"}, "premise.non_empty"),
        ("cb", {"premise": "Ships.  ", "hypothesis": "the ferry left"}, "premise.min_words: 1 words, fewer than 3"),
        ("cb", {"premise": PREMISE, "hypothesis": " ... "}, "hypothesis.non_empty"),
        ("rte", {"premise": PREMISE, "hypothesis": "Yes."}, "hypothesis.min_words: 1 words, fewer than 2"),
        ("rte", {"premise": PREMISE, "hypothesis": "word " * 41}, "hypothesis.max_words: 41 words, more than 40"),
        (
            "rte",
            {"premise": PREMISE, "hypothesis": PREMISE.upper().replace("?", "")},
            "hypothesis.differs_from: the same text as premise",
        ),
        (
            "cb",
            {"premise": PREMISE, "hypothesis": f"Clearly {PREMISE}"},
            "hypothesis.not_contain: contains the whole of premise",
        ),
        (
            "axb",
            {"sentence1": "The cat sat on the mat.", "sentence2": "the cat sat on the mat"},
            "sentence2.differs_from",
        ),
        (
            "axg",
            {"premise": "The nurse helped the patient quickly.", "hypothesis": "The nurse helped."},
            "premise.matches",
        ),
        (
            "axg",
            {"premise": "The nurse helped the patient because she needed advice.", "hypothesis": "She needed advice."},
            "hypothesis.not_matches: 'She' matches",
        ),
    ],
)
def test_check_rejects_impossible_pairs(name, fields, reason):
    problem = get_task(name).check(fields)
    assert problem is not None and reason in problem


def test_check_accepts_real_shaped_pairs():
    # CB's hypothesis is an embedded clause of the premise: a substring of it is fine.
    assert get_task("cb").check({"premise": PREMISE, "hypothesis": "the ferry left on time"}) is None
    rte = {"premise": "Ada Whitcombe founded the Royal Guild in 1850.", "hypothesis": "The Royal Guild exists."}
    assert get_task("rte").check(rte) is None
    # AX-b: sentence 2 may be sentence 1 plus material (conjunction, added modifiers).
    axb = {"sentence1": "The cat sat on the mat.", "sentence2": "The cat sat on the mat and the dog barked."}
    assert get_task("axb").check(axb) is None
    assert get_task("rte").check({"premise": axb["sentence1"], "hypothesis": axb["sentence2"]}) is not None
    axg = {
        "premise": "The accountant met the taxpayer to help with their forms.",
        "hypothesis": "The taxpayer got help.",
    }
    assert get_task("axg").check(axg) is None


def test_superglue_lines_use_the_label_names():
    rec = {"premise": "p is here", "hypothesis": "h is here", "idx": 7, "label": 2, "id": "x", "seed_id": "y"}
    assert get_task("cb").to_superglue(rec) == {
        "premise": "p is here",
        "hypothesis": "h is here",
        "idx": 7,
        "label": "neutral",
    }
    axg = get_task("axg").to_superglue({**rec, "label": 1})
    assert (axg["label"], axg["pair_id"]) == ("not_entailment", 7)
    axb = {"sentence1": "a b", "sentence2": "c d", "idx": 0, "label": 0}
    assert get_task("axb").to_superglue(axb) == {
        "sentence1": "a b",
        "sentence2": "c d",
        "idx": 0,
        "label": "entailment",
    }


@pytest.mark.parametrize("name", NAMES)
def test_fake_writes_each_tasks_style_and_its_judge_catches_every_planted_label(name):
    """The seeds template's Setting line routes the fake to the task's premise style; with every label
    planted wrong, the judge flips all of them, and with none it keeps all."""
    task = get_task(name)
    labels = list(load_job(ROOT / "jobs" / f"{name}.yaml").labels)
    render = PromptSet.load(ROOT / "prompts" / name).renderer().render
    seeds = render("seeds", task=name, description="d", context="salt mining today", n=5, seed_noun=task.seed_noun)
    setting = re.search(r"Setting: ([^\n]*)", seeds).group(1)
    style, topic = fake_nli._style_of(setting)
    assert (style, topic) == (name, "salt mining today")
    schema = {"properties": {**task.instance_schema["properties"], "label": {"enum": labels}}}
    rng = random.Random(0)
    for rate in (0.0, 1.0):
        for i in range(60):
            seed = fake_nli.seed(rng, setting)
            assert fake_nli._parse(seed)[0] == name
            target = labels[i % len(labels)]
            prompt = render(
                "generate",
                task=name,
                description="d",
                context="c",
                seed=seed,
                seed_noun="s",
                label=target,
                labels=labels,
            )
            answer = fake_nli.generate(prompt, rng, SimpleNamespace(wrong_label_rate=rate), schema)
            fields = task.build(seed, answer)
            assert task.check(fields) is None
            prompt = render("correct", task=name, description="d", instance=fields, label=target, labels=labels)
            verdict = fake_nli.correct(prompt, rng, SimpleNamespace(wrong_label_rate=rate), schema)
            assert (verdict["label"] != target) == (rate == 1.0)
