"""COPA, WiC and WSC: each end to end against the fake provider, and their build/check on hand-made rows."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter

import pyarrow.parquet as pq
import pytest
from conftest import ROOT

from analysis.dataset import from_file
from targen_ray.config import SPLITS
from targen_ray.engine import job as job_mod
from targen_ray.engine import plan
from targen_ray.engine.export import export_superglue
from targen_ray.engine.runner import run
from targen_ray.engine.split import LINEAGE
from targen_ray.engine.store import RunDir
from targen_ray.engine.tasks import get_task
from targen_ray.engine.tasks.wic import is_form_of
from targen_ray.fake.tasks import copa as fake_copa
from targen_ray.fake.tasks import wic as fake_wic
from targen_ray.fake.tasks import wsc as fake_wsc

LIMIT = 24
FILES = {"train": "train.jsonl", "validation": "val.jsonl", "test": "test.jsonl"}
# The keys of one line of the original SuperGLUE JSONL files.
JSONL_KEYS = {
    "copa": {"premise", "choice1", "choice2", "question", "idx", "label"},
    "wic": {"word", "sentence1", "sentence2", "idx", "label", "start1", "start2", "end1", "end2", "version"},
    "wsc": {"text", "target", "idx", "label"},
}


def _truth(task: str, r: dict) -> int | None:
    """The row's true label, re-derived by the fake's own reading of the text."""
    if task == "copa":
        return fake_copa.answer_of(r["premise"], r["question"], r["choice1"], r["choice2"])
    if task == "wic":
        return fake_wic.same_sense(r["word"], r["sentence1"], r["sentence2"])
    return fake_wsc.refers(r["text"], r["span1_text"], r["span2_text"])


def _hf_row(task, line: dict) -> dict:
    """A SuperGLUE JSONL line read the way the Hugging Face `super_glue` loader reads it."""
    if task.name == "wsc":
        line = {**line, **line["target"]}
    row = {k: line[k] for k in task.record_schema.names if k not in ("idx", "label")}
    if task.name == "copa":
        label = "choice2" if line["label"] else "choice1"
    else:
        label = "True" if line["label"] is True else "False" if line["label"] is False else None
    return {**row, "idx": line["idx"], "label": task.label_names.index(label)}


@pytest.mark.parametrize("name", ["copa", "wic", "wsc"])
def test_end_to_end(ray_session, fake, tmp_path, name):
    task = get_task(name)
    job = job_mod.load(ROOT / "jobs" / f"{name}.yaml", fake.endpoints(writer="openai", judge="anthropic"))
    # Quotas of one to six rows per (split, label) and 20% planted flips: plan 60% extra so that one round
    # fills them. A top-up round would be four more Ray stages and tests the pipeline, not the task.
    job = dataclasses.replace(job, spec=job.spec.model_copy(update={"overgenerate": 0.6}))
    run_dir = tmp_path / "run"
    summary = run(job, str(run_dir), limit=LIMIT, in_driver=True)

    quotas = plan.quotas(job.spec, LIMIT)
    ids, finals = [], {}
    for split in SPLITS:
        table = pq.read_table(run_dir / RunDir.final(split))
        assert table.schema.names == [*task.record_schema.names, *(out for out, _ in LINEAGE)]
        assert table.select(task.record_schema.names).schema.equals(task.record_schema)
        assert Counter(table["label"].to_pylist()) == Counter({lbl: quotas[(split, lbl)] for lbl in range(2)})
        assert sorted(table["idx"].to_pylist()) == list(range(table.num_rows))
        rows = table.to_pylist()
        for r in rows:
            assert task.check(r) is None, r
            assert r["label"] == r["final_label"]
            # 20% of generations carry a planted wrong label; the judge must have fixed every one
            assert _truth(name, r) == r["label"], r
        ids += table["id"].to_pylist()
        finals[split] = rows
    assert len(ids) == len(set(ids)) == LIMIT
    assert summary["complete"] and summary["rows"]["counts_add_up"]
    assert summary["rows"]["self_corrected"] > 0
    assert summary["rows"]["kept"] == LIMIT

    everything = [r for rows in finals.values() for r in rows]
    if name == "copa":  # the prompt's question follows the premise, so both kinds occur
        assert all(r["question"] == question_for(r["premise"]) for r in everything)
        assert {r["question"] for r in everything} == {"cause", "effect"}
    elif name == "wic":  # offsets come from build: they point at a form of the word
        for r in everything:
            for i in (1, 2):
                assert is_form_of(r[f"sentence{i}"][r[f"start{i}"] : r[f"end{i}"]], r["word"])
    else:  # span indices come from build: word indices in the text split on spaces
        for r in everything:
            tokens = r["text"].split(" ")
            assert tokens[r["span2_index"]].strip(".,") == r["span2_text"]
            assert " ".join(tokens[r["span1_index"] :]).startswith(r["span1_text"])

    written = export_superglue(task, RunDir(str(run_dir)))
    assert written == {FILES[s]: len(finals[s]) for s in SPLITS}
    for split, file in FILES.items():
        lines = [json.loads(x) for x in (run_dir / RunDir.superglue() / file).read_text().splitlines()]
        assert all(set(line) == JSONL_KEYS[name] for line in lines)
        if name == "copa":
            assert all(line["label"] in (0, 1) and type(line["label"]) is int for line in lines)
        else:
            assert all(type(line["label"]) is bool for line in lines)
        if name == "wsc":
            assert all(set(x["target"]) == {"span1_index", "span1_text", "span2_index", "span2_text"} for x in lines)
        assert [_hf_row(task, line) for line in lines] == [
            {k: r[k] for k in task.record_schema.names} for r in finals[split]
        ]
        # a reference set in this layout reads back as these rows (analyze, evaluate, decontamination)
        ref = from_file(run_dir / RunDir.superglue() / file, task).frame.collect()
        assert ref["label"].to_list() == [r["label"] for r in finals[split]]
        assert all(ref[f].to_list() == [r[f] for r in finals[split]] for f in task.text_fields)


# -- COPA ---------------------------------------------------------------------------------------------


def question_for(premise: str) -> str:
    """The question prompts/copa/generate.j2 asks for a premise: effect for an even length, else cause."""
    return "effect" if len(premise) % 2 == 0 else "cause"


COPA = get_task("copa")
PREMISE = "My body cast a shadow over the grass."


def _copa(**change) -> dict:
    return {
        "premise": PREMISE,
        "choice1": "The sun was rising.",
        "choice2": "The grass was cut.",
        "question": "cause",
        **change,
    }


def test_copa_build_keeps_the_seed_as_premise():
    instance = {"question": "Effect ", "choice1": " I squinted. ", "choice2": "I fell asleep.", "label": "choice1"}
    assert COPA.build(f" {PREMISE}\n", instance) == {
        "premise": PREMISE,
        "choice1": "I squinted.",
        "choice2": "I fell asleep.",
        "question": "effect",
    }


def test_copa_check_accepts_the_original_first_row():
    assert COPA.check(_copa()) is None


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"premise": " . "}, "premise.non_empty"),
        ({"question": "reason"}, "question.choices: 'reason' is not one of"),
        ({"choice1": "Rising."}, "choice1.min_words: 1 words, fewer than 2"),
        ({"choice2": "my body cast a shadow over the grass"}, "choice2.differs_from: the same text as premise"),
        (
            {"choice1": "My body cast a shadow over the grass, again."},
            "choice1.not_contain: contains the whole of premise",
        ),
        ({"choice2": "the sun was RISING"}, "choice2.differs_from: the same text as choice1"),
    ],
)
def test_copa_check_rejects(change, reason):
    assert reason in COPA.check(_copa(**change))


def test_copa_generate_prompt_asks_the_question_of_question_for():
    job = job_mod.load(ROOT / "jobs" / "copa.yaml", ROOT / "jobs" / "endpoints" / "fake.yaml", check_keys=False)
    renderer = job.prompts.renderer()
    for premise in (PREMISE, PREMISE + "!"):  # one odd, one even length
        prompt = renderer.render(
            "generate",
            task="copa",
            description="d",
            context="c",
            seed=premise,
            seed_noun="premise",
            label="choice1",
            labels=["choice1", "choice2"],
        )
        assert f"Question type: {question_for(premise)}\n" in prompt
    assert {question_for(PREMISE), question_for(PREMISE + "!")} == {"cause", "effect"}


# -- WiC ----------------------------------------------------------------------------------------------

WIC = get_task("wic")
# The first row of SuperGLUE's WiC train.jsonl
PLACE = {
    "word": "place",
    "sentence1": "Do you want to come over to my place later?",
    "sentence2": "A political system with no place for the less prominent groups.",
    "start1": 31,
    "start2": 27,
    "end1": 36,
    "end2": 32,
}


def test_wic_build_finds_the_form_used():
    instance = {
        "word": " Run",
        "sentence1": "Grant ran to the station.",  # "ran" inside "Grant" is not the word
        "form1": "ran",
        "sentence2": "Running a hotel is hard; she runs one.",
        "form2": "running",  # no exact-case match: the first whole word in any case
        "label": "same",
    }
    fields = WIC.build("run (verb): ...", instance)
    assert fields == {
        "word": "run",
        "sentence1": "Grant ran to the station.",
        "sentence2": "Running a hotel is hard; she runs one.",
        "start1": 6,
        "start2": 0,
        "end1": 9,
        "end2": 7,
    }
    assert WIC.check(fields) is None


def test_wic_build_reproduces_superglue_offsets():
    instance = {k: PLACE[k] for k in ("word", "sentence1", "sentence2")} | {"form1": "place", "form2": "place"}
    assert WIC.build("place (noun): ...", instance) == PLACE
    assert WIC.check(PLACE) is None


def test_wic_build_marks_a_missing_form():
    fields = WIC.build("", {**PLACE, "form1": "places", "form2": "place"})
    assert (fields["start1"], fields["end1"]) == (-1, -1)
    assert WIC.check(fields) == "the word's form is missing from sentence1"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"word": "take place"}, "not a single word"),
        ({"sentence2": "do you want to  come over to my place later?"}, "are the same"),
        ({"start2": 60, "end2": 65}, "outside sentence2"),
        ({"start1": 32, "end1": 36}, "not one whole word"),  # "lace"
        ({"start1": 31, "end1": 42}, "not one whole word"),  # "place later"
        ({"start1": 28, "end1": 30}, "'my', not a form of 'place'"),
        ({"start2": 12, "end2": 18}, "'system', not a form of 'place'"),
    ],
)
def test_wic_check_rejects(change, reason):
    assert reason in WIC.check({**PLACE, **change})


def test_wic_check_knows_irregular_forms():
    fields = WIC.build(
        "",
        {
            "word": "go",
            "sentence1": "We went home.",
            "form1": "went",
            "sentence2": "The clock goes well.",
            "form2": "goes",
        },
    )
    assert WIC.check(fields) is None


# -- WSC ----------------------------------------------------------------------------------------------

WSC = get_task("wsc")
# The first row of SuperGLUE's WSC train.jsonl (wsc.fixed)
MARK = {
    "text": (
        "Mark told Pete many lies about himself, which Pete included in his book. He should have been more truthful."
    ),
    "span1_index": 0,
    "span2_index": 13,
    "span1_text": "Mark",
    "span2_text": "He",
}


def test_wsc_config_is_wsc_fixed():
    assert WSC.config == "wsc.fixed"


def test_wsc_build_computes_word_indices():
    seed = "The  trophy didn't fit into the brown suitcase because it was too big."
    instance = {"span1_text": "the trophy", "span1_occurrence": 1, "span2_text": "it", "span2_occurrence": 1}
    fields = WSC.build(seed, {**instance, "label": "yes"})
    assert fields == {
        "text": "The trophy didn't fit into the brown suitcase because it was too big.",
        "span1_index": 0,
        "span2_index": 9,
        "span1_text": "The trophy",  # as the text spells it
        "span2_text": "it",
    }
    assert WSC.check(fields) is None


def test_wsc_build_picks_the_named_occurrence_and_drops_punctuation():
    fields = WSC.build(
        MARK["text"], {"span1_text": "Pete", "span1_occurrence": 2, "span2_text": "his", "span2_occurrence": 1}
    )
    assert (fields["span1_index"], fields["span1_text"], fields["span2_index"]) == (8, "Pete", 11)
    fields = WSC.build(
        MARK["text"], {"span1_text": "his book", "span1_occurrence": 1, "span2_text": "He", "span2_occurrence": 1}
    )
    assert (fields["span1_index"], fields["span1_text"]) == (11, "his book")  # the token is "book."
    assert WSC.check(fields) is None


def test_wsc_build_marks_a_missing_span():
    fields = WSC.build(
        MARK["text"], {"span1_text": "Pete", "span1_occurrence": 3, "span2_text": "He", "span2_occurrence": 1}
    )
    assert fields["span1_index"] == -1
    assert WSC.check(fields) == "span1 'Pete' not found in the text"


def test_wsc_check_accepts_the_original_first_row():
    assert WSC.check(MARK) is None


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"text": "  "}, "empty text"),
        ({"span1_index": 2}, "span1_index 2 does not point at 'Mark'"),
        ({"span2_index": 30}, "span2_index 30 does not point at 'He'"),
        ({"span2_index": 2, "span2_text": "Pete"}, "span2 'Pete' is not a pronoun"),
        ({"span1_index": 13, "span1_text": "He"}, "span1 and span2 are the same"),
        ({"span1_index": 11, "span1_text": "his book", "span2_index": 11, "span2_text": "his"}, "overlap"),
        ({"span1_text": ""}, "empty span1_text"),
    ],
)
def test_wsc_check_rejects(change, reason):
    assert reason in WSC.check({**MARK, **change})


# -- the fakes read their own content back ---------------------------------------------------------------


def test_fake_wic_templates_name_one_sense_each():
    import random

    rng = random.Random(0)
    for word, (_, senses) in fake_wic.LEXICON.items():
        for sense, (_, templates) in enumerate(senses):
            for template in templates:
                text, form = fake_wic.sentence(template, rng)
                assert fake_wic.sense_of(word, text) == sense
                assert (
                    WIC.check(
                        WIC.build(
                            "",
                            {"word": word, "sentence1": text, "form1": form, "sentence2": "x " + text, "form2": form},
                        )
                    )
                    is None
                )


def test_fake_seeds_parse_back():
    import random

    rng = random.Random(0)
    for _ in range(500):
        assert fake_copa.event_of(fake_copa.near_duplicate(rng, fake_copa.seed(rng, "s"))) is not None
        assert fake_wsc.parse(fake_wsc.near_duplicate(rng, fake_wsc.seed(rng, "s"))) is not None
