"""ReCoRD: end to end against the fake provider, and the task's build/check/revise/idx/export by hand."""

from __future__ import annotations

import json
import random
from collections import Counter

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import ROOT

from targen_ray.config import SPLITS
from targen_ray.engine import job as job_mod
from targen_ray.engine import plan
from targen_ray.engine.dedup.reference import read_rows
from targen_ray.engine.export import export_superglue
from targen_ray.engine.runner import run
from targen_ray.engine.split import LINEAGE
from targen_ray.engine.steps.correct import CorrectStep
from targen_ray.engine.steps.generate import GenerateStep
from targen_ray.engine.store import RunDir
from targen_ray.engine.tasks import get_task
from targen_ray.fake.content import ContentConfig
from targen_ray.fake.tasks import record as fake_record
from targen_ray.interface import api

JOB = ROOT / "jobs" / "record.yaml"
TASK = get_task("record")


def hf_view(line: dict) -> list[dict]:
    """What the Hugging Face `super_glue/record` loader (1.0.3) makes of one original JSONL line: spans
    with `end + 1`, sorted by start; entities and answers as distinct texts."""
    text = line["passage"]["text"]
    spans = sorted(
        (
            {"text": text[e["start"] : e["end"] + 1], "start": e["start"], "end": e["end"] + 1}
            for e in line["passage"]["entities"]
        ),
        key=lambda s: s["start"],
    )
    return [
        {
            "passage": text,
            "query": qa["query"],
            "entities": sorted({s["text"] for s in spans}),
            "entity_spans": {k: [s[k] for s in spans] for k in ("text", "start", "end")},
            "answers": sorted({a["text"] for a in qa["answers"]}),
            "idx": {"passage": line["idx"], "query": qa["idx"]},
        }
        for qa in line["qas"]
    ]


def test_record_end_to_end(ray_session, fake, tmp_path):
    job = job_mod.load(JOB, fake.endpoints(writer="openai", judge="anthropic"))
    run_dir = tmp_path / "run"
    limit = 30
    summary = run(job, str(run_dir), limit=limit, in_driver=True)

    quotas = plan.quotas(job.spec, limit)
    lineage = [name for name, _ in LINEAGE]
    exported = {}
    written = export_superglue(TASK, RunDir(str(run_dir)))
    for name in written:
        exported[name] = [json.loads(x) for x in (run_dir / RunDir.superglue() / name).read_text().splitlines()]
    files = {"train": "train.jsonl", "validation": "val.jsonl", "test": "test.jsonl"}
    for split in SPLITS:
        table = pq.read_table(run_dir / RunDir.final(split))
        assert table.column_names == [*TASK.record_schema.names, *lineage]
        assert table.select(TASK.record_schema.names).schema.equals(TASK.record_schema)
        assert table.num_rows == quotas[(split, 0)]
        assert Counter(table["final_label"].to_pylist()) == Counter({0: quotas[(split, 0)]})
        rows = sorted(table.to_pylist(), key=lambda r: r["idx"]["query"])  # final/ files are each in idx order
        assert [r["idx"]["query"] for r in rows] == list(range(len(rows)))
        first_seen = list(dict.fromkeys(r["seed_id"] for r in rows))
        assert [r["idx"]["passage"] for r in rows] == [first_seen.index(r["seed_id"]) for r in rows]
        for r in rows:
            fields = {k: r[k] for k in TASK.record_schema.names}
            assert TASK.check(fields) is None, (TASK.check(fields), fields["query"])
            assert r["query"].count("@placeholder") == 1
            spans = r["entity_spans"]
            assert all(
                r["passage"][s:e] == t for t, s, e in zip(spans["text"], spans["start"], spans["end"], strict=True)
            )
            assert sorted(set(spans["text"])) == r["entities"]
            assert set(r["answers"]) <= set(r["entities"])
            # The fake plants a wrong answer entity in 20% of generations; the judge fixed every one.
            assert fake_record.solve(r["passage"], r["query"], r["entities"]) in r["answers"]
        # The original JSONL layout, read back the way the HF loader does, gives the same records.
        lines = exported[files[split]]
        assert all(set(line) == {"idx", "source", "passage", "qas"} for line in lines)
        assert sorted((row for line in lines for row in hf_view(line)), key=lambda r: r["idx"]["query"]) == [
            {k: r[k] for k in TASK.record_schema.names} for r in rows
        ]

    assert summary["complete"] and summary["rows"]["counts_add_up"]
    assert summary["rows"]["kept"] == limit
    assert summary["rows"]["self_corrected"] > 0  # the judge's revise replaced planted answers
    corrected = pq.read_table(run_dir / RunDir.stage_dir("correct"))
    assert any(corrected["corrected"].to_pylist())

    # `targen evaluate`: ReCoRD's answer is one of its entities, so it gets the span baseline, scored as ReCoRD is;
    # the reference may be the original nested JSONL, read as the HF loader reads it
    for name in ("train.jsonl", "val.jsonl"):
        read = read_rows(run_dir / RunDir.superglue() / name, TASK.text_fields)
        fields = ("passage", "query", "entities", "answers", "idx")
        assert [{k: r[k] for k in fields} for r in read] == [
            {k: r[k] for k in fields} for line in exported[name] for r in hf_view(line)
        ]
    reference = [str(run_dir / RunDir.superglue() / name) for name in ("train.jsonl", "val.jsonl")]
    result = api.evaluate(str(run_dir), reference)
    assert [(p["train"], p["test"]) for p in result["pairs"]] == [
        ("synthetic train", "synthetic test"),
        ("synthetic train", "reference val"),
        ("reference train", "reference val"),
        ("reference train", "synthetic test"),
    ]
    (own,) = [p for p in result["pairs"] if p["train"] == "synthetic train" and p["test"] == "synthetic test"]
    assert own["available"] and set(own["scores"]) == {"em", "f1"} and own["test_rows"] == quotas[("test", 0)]
    assert own["scores"]["em"]["low"] > own["chance"]  # the fake's queries name the answer's neighbours


# -- build ----------------------------------------------------------------------------------------------

PASSAGE = "Tracy Morgan will host SNL in New York. Morgan said NBC agreed, and New York cheered.\n@highlight\nNBC deal"


def built(answer="Morgan", query="Fans in @placeholder lined up for the show.", entities=None) -> dict:
    entities = entities or ["Tracy Morgan", "Morgan", "NBC", "New York", "SNL", "Chicago", "NBC", " SNL "]
    return TASK.build(PASSAGE + "  ", {"entities": entities, "query": query, "answer": answer})


def test_build_computes_every_span_with_an_exclusive_end():
    fields = built(answer="New York")
    assert fields["passage"] == PASSAGE
    assert fields["entities"] == ["Morgan", "NBC", "New York", "SNL", "Tracy Morgan"]  # Chicago is not there
    spans = fields["entity_spans"]
    assert list(zip(spans["text"], spans["start"], spans["end"], strict=True)) == [
        ("Tracy Morgan", 0, 12),  # "Morgan" inside it is not a mention of its own
        ("SNL", 23, 26),
        ("New York", 30, 38),
        ("Morgan", 40, 46),
        ("NBC", 52, 55),
        ("New York", 68, 76),
        ("NBC", 97, 100),
    ]
    assert all(PASSAGE[s:e] == t for t, s, e in zip(spans["text"], spans["start"], spans["end"], strict=True))
    assert fields["answers"] == ["New York"]
    assert TASK.check(fields) is None


def test_build_adds_other_surface_forms_of_the_answer():
    assert built(answer="Morgan", query="@placeholder was praised by the network.")["answers"] == [
        "Morgan",
        "Tracy Morgan",
    ]
    assert built(answer="tracy morgan", query="@placeholder was praised.")["answers"] == ["Morgan", "Tracy Morgan"]


def test_build_tolerates_the_estimators_placeholder_instance():
    words = " ".join(["word"] * 40)
    fields = TASK.build(" ".join(["word"] * 250), {"entities": words, "query": words, "answer": words})
    assert fields["answers"] == [words]


# -- check ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"query": "Fans in New York lined up."}, "exactly once (found 0)"),
        ({"query": "@placeholder fans in @placeholder lined up."}, "exactly once (found 2)"),
        ({"query": "In @placeholder."}, "fewer than 3 words"),
        ({"answers": ["Chicago"]}, "'Chicago' is not one of the passage's entities"),
        ({"answers": []}, "no answer"),
        ({"query": "New York fans watched @placeholder host it.", "answers": ["Tracy Morgan"]}, None),
        ({"query": "Fans said @placeholder and Tracy Morgan met.", "answers": ["Morgan", "Tracy Morgan"]}, "verbatim"),
        ({"query": "Tracy Morgan will host SNL in @placeholder.", "answers": ["New York"]}, "copied"),
        ({"entities": ["NBC"]}, "fewer than 2 entities"),
    ],
)
def test_check_rejects_impossible_rows(change, reason):
    fields = {**built(answer="New York"), **change}
    problem = TASK.check(fields)
    assert problem is None if reason is None else reason in problem, problem


def test_check_rejects_a_span_that_does_not_point_at_its_text():
    fields = built(answer="New York")
    spans = dict(fields["entity_spans"])
    spans["end"] = [*spans["end"][:2], spans["end"][2] - 1, *spans["end"][3:]]  # "New Yor"
    assert "does not point at 'New York'" in TASK.check({**fields, "entity_spans": spans})
    spans = {**fields["entity_spans"], "text": ["Tracy Morgan", "NBC", *fields["entity_spans"]["text"][2:]]}
    assert "does not point at 'NBC'" in TASK.check({**fields, "entity_spans": spans})


def test_check_rejects_an_answer_never_named_as_an_entity():
    fields = built(answer="Chicago", entities=["Tracy Morgan", "NBC"])
    assert "'Chicago' is not one of the passage's entities" in TASK.check(fields)


# -- revise, idx, export --------------------------------------------------------------------------------


def test_revise_follows_the_judges_entity():
    fields = built(answer="NBC")
    revised = TASK.revise(fields, {"rationale": "", "answer": "New York", "label": "answer"})
    assert revised["answers"] == ["New York"] and TASK.check(revised) is None
    assert TASK.revise(fields, {"rationale": "", "answer": "NBC", "label": "answer"}) is fields
    assert "not one of the passage's entities" in TASK.revise(fields, {"rationale": "", "answer": "none", "label": ""})
    on_query = built(answer="NBC", query="Fans in New York lined up for @placeholder.")
    assert "verbatim" in TASK.revise(on_query, {"rationale": "", "answer": "New York", "label": "answer"})


def test_make_idx_numbers_passages_in_first_seen_order():
    rows = pa.table({"id": list("wxyz"), "seed_id": ["s9", "s2", "s9", "s5"]})
    idx = TASK.make_idx(rows)
    assert idx.type == TASK.record_schema.field("idx").type
    assert idx.to_pylist() == [
        {"passage": 0, "query": 0},
        {"passage": 1, "query": 1},
        {"passage": 0, "query": 2},
        {"passage": 2, "query": 3},
    ]


def test_to_superglue_writes_inclusive_ends():
    fields = built(answer="Morgan", query="@placeholder was praised by the network.")
    line = TASK.to_superglue({**fields, "idx": {"passage": 4, "query": 7}})
    assert line["idx"] == 4 and line["source"] == "targen" and line["qas"][0]["idx"] == 7
    assert line["passage"]["entities"][0] == {"start": 0, "end": 11}
    assert line["qas"][0]["answers"] == [
        {"start": 0, "end": 11, "text": "Tracy Morgan"},
        {"start": 40, "end": 45, "text": "Morgan"},
    ]
    assert hf_view(line) == [{**fields, "idx": {"passage": 4, "query": 7}}]


# -- the fake's content ---------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [0.0, 1.0])
def test_fake_judge_corrects_exactly_the_planted_answers(rate):
    job = job_mod.load(JOB, ROOT / "jobs" / "endpoints" / "fake.yaml", check_keys=False)
    generate, correct, cfg = GenerateStep(job), CorrectStep(job), ContentConfig(wrong_label_rate=rate)
    corrected = 0
    for i in range(200):
        rng = random.Random(i)
        passage = fake_record.seed(rng, "river trade in the 1920s")
        words = len(passage.split())
        assert 200 <= words <= 300 and len(fake_record.entities_in(passage)) >= 10
        row = {"id": str(i), "context": "river trade", "seed": passage, "target_label": 0}
        req = generate.request(row, 0)
        made = generate.parse(fake_record.generate(req.prompt, rng, cfg, req.schema), row)
        assert not isinstance(made, str), made
        row = {**row, **made}
        req = correct.request(row, 0)
        verdict = correct.parse(fake_record.correct(req.prompt, rng, cfg, req.schema), row)
        assert not isinstance(verdict, str), verdict
        corrected += verdict["corrected"]
    assert corrected == (200 if rate else 0)


def test_a_place_is_not_a_short_form_of_a_longer_place():
    passage = "Fans flew from York to New York, where NBC and Tracy Morgan waited. Morgan smiled."
    named = ["York", "New York", "NBC", "Tracy Morgan", "Morgan"]
    fields = TASK.build(passage, {"entities": named, "query": "Fans flew from @placeholder again.", "answer": "York"})
    assert fields["answers"] == ["York"]
