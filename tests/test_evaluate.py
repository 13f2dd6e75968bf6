"""`targen evaluate` (does the data train a model?) and the quality gate of `targen publish`, on fake
runs of declared tasks: ticket_intent (five labels, no code), whose tickets the fake writes with words
of their true label, so a small model learns it, and with the labels shuffled must not; manual_qa (an
answer copied out of the context), whose span baseline learns which words answer, and with the answers
moved at random must not."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from conftest import MANUAL_QA, ROOT, copy_run, exact_dedup_only
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from analysis import scores
from analysis.dataset import run_task
from analysis.evaluate import evaluate
from targen_ray.engine import job as job_mod
from targen_ray.engine.dedup.reference import read_rows, split_of
from targen_ray.engine.runner import run
from targen_ray.engine.scaffold import STARTER
from targen_ray.engine.store import RunDir
from targen_ray.errors import SpecError
from targen_ray.interface import api
from targen_ray.interface.cli import main

ROWS = 400
TICKETS = ROOT / "jobs" / "ticket_intent.yaml"


@pytest.fixture(scope="module")
def finished(ray_session, fake, tmp_path_factory):
    folder = tmp_path_factory.mktemp("evaluate")
    spec = yaml.safe_load(exact_dedup_only(TICKETS, folder).read_text())
    spec["gate"] = {"max_flip_rate": 0.9}  # the job's gate is what publish holds the run to
    (folder / "tickets.yaml").write_text(yaml.safe_dump(spec))
    run_dir = folder / "run"
    summary = run(job_mod.load(folder / "tickets.yaml", fake.endpoints()), str(run_dir), limit=ROWS, in_driver=True)
    return run_dir, summary


@pytest.fixture(scope="module")
def extractive(finished_manual_qa, tmp_path_factory):
    """A fake run of a declared extractive task: no labels, an answer copied out of the context."""
    return copy_run(finished_manual_qa, tmp_path_factory.mktemp("extractive"))  # evaluate writes its report


QUIZ = {  # COPA's shape as a declaration: no labels, options in a list field, an answer one_of them
    "name": "quiz",
    "seed_field": "passage",
    "seed_noun": "passage",
    "fields": {
        "passage": {"type": "string"},
        "question": {"type": "string", "description": "A question about the passage."},
        "options": {"type": "list", "description": "Four names from the passage, the answer among them."},
        "answer": {"type": "string", "description": "The option that answers the question."},
    },
    "answer": "answer",
    "checks": [{"field": "question", "min_words": 3}, {"field": "answer", "one_of": "options"}],
    "card": {"task_categories": ["multiple-choice"]},
}
QUIZ_PROMPTS = {
    "generate.j2": "Task: {{ description }}\n\nPassage:\n{{ seed }}\n\nWrite a question about the passage, "
    'four names from it as options, and the option that answers the question. Set "label" to "{{ label }}".',
    "correct.j2": "Task: {{ description }}\n\nPassage:\n{{ instance.passage }}\n\nQuestion: {{ instance.question }}"
    "\n\nOptions: {{ instance.options | join(' / ') }}\n\nProposed answer: {{ instance.answer }}\n\nAnswer "
    'with one of the options, exactly as written. Set "label" to "{{ label }}".',
}


@pytest.fixture(scope="module")
def multiple_choice(ray_session, fake, tmp_path_factory):
    """A fake run of a declared multiple-choice task (the fake's options are names of its passage)."""
    folder = tmp_path_factory.mktemp("choice")
    prompts = folder / "prompts"
    prompts.mkdir()
    for name in ("contexts.j2", "seeds.j2"):
        shutil.copy(STARTER / name, prompts / name)
    for name, text in QUIZ_PROMPTS.items():
        (prompts / name).write_text(text)
    spec = {**yaml.safe_load(MANUAL_QA.read_text()), "name": "quiz", "task": QUIZ, "prompts": str(prompts)}
    spec |= {"splits": {"train": 120, "validation": 20, "test": 40}, "dedup": {"near": False}}
    # The fake's judge answers with any name of the passage, a third of them no option: rejects, not a stop.
    spec["stop_error_rate"] = 0.6
    (folder / "quiz.yaml").write_text(yaml.safe_dump(spec))
    run_dir = folder / "run"
    run(job_mod.load(folder / "quiz.yaml", fake.endpoints()), str(run_dir), in_driver=True)
    return run_dir


def _copy(run_dir, to, **summary_changes):
    """A copy of the run, without its report (no evaluation yet), with summary.json changed."""
    shutil.copytree(run_dir, to)
    shutil.rmtree(to / RunDir.report(), ignore_errors=True)
    summary = json.loads((to / RunDir.summary_file()).read_text())
    for key, value in summary_changes.items():
        summary[key] = {**summary[key], **value} if isinstance(value, dict) else value
    (to / RunDir.summary_file()).write_text(json.dumps(summary))
    return to


def _shuffle_labels(run_dir) -> None:
    """Every train and test row's label, shuffled: text that no longer says its label."""
    task = run_task(RunDir(run_dir))
    for split in ("train", "test"):
        for path in sorted((run_dir / RunDir.final(split)).glob("*.parquet")):
            t = pq.read_table(path)
            perm = np.random.default_rng(7).permutation(t.num_rows)
            for col in ("label", task.lineage_name("final_label")):
                t = t.set_column(t.schema.get_field_index(col), col, t[col].take(perm))
            pq.write_table(t, path)


def _own(result: dict) -> dict:
    return next(p for p in result["pairs"] if (p["train"], p["test"]) == ("synthetic train", "synthetic test"))


def test_scores_by_hand():
    gold, pred = np.array([1, 1, 0, 0, 1]), np.array([1, 0, 0, 1, 1])
    assert scores.accuracy(gold, pred) == 0.6
    assert scores.f1(gold, pred) == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))
    assert scores.mcc(gold, gold) == 1.0 and scores.mcc(gold, 1 - gold) == -1.0
    assert scores.macro_f1(np.array([0, 1, 2]), np.array([0, 1, 1]), 3) == pytest.approx((1 + 2 / 3 + 0) / 3)
    # EM: a question is right only when all its rows are; the interval resamples questions whole
    per = scores.classification(gold, pred, np.array([0, 0, 1, 1, 2]), 2)
    assert per["em"](np.arange(5), np.arange(3)) == pytest.approx(1 / 3)
    assert scores.token_f1("The Eiffel Tower", "eiffel tower!") == 1.0 and scores.token_f1("Paris", "Rome") == 0.0
    got = scores.answer_scores(["Paris", "the Seine river", "An"], [["paris"], ["Seine", "Loire"], ["the"]])
    assert got["em"].tolist() == [1.0, 0.0, 1.0] and got["f1"][1] == pytest.approx(2 / 3) and got["f1"][2] == 1.0


def test_a_reference_files_split_is_its_name():
    named = {
        "train.jsonl": "train",
        "val.jsonl": "val",
        "train-v1.1.json": "train",  # SQuAD's
        "dev-v1.1.json": "dev-v1.1",
        "validation-00001-of-00002.parquet": "validation",  # Hugging Face's shards, and targen publish's
        "train-00000-of-00001.parquet": "train",
    }
    assert {name: split_of({}, Path(name)) for name in named} == named
    assert split_of({"split": "test"}, Path("train.jsonl")) == "test"  # a row's own split wins


def test_only_superglues_nested_layouts_are_taken_apart(tmp_path):
    """A declared task's span field is a dict too: one named `target` or `passage` is not WSC's or ReCoRD's."""
    own = {"context": "Press Menu.", "target": {"text": ["Menu"], "answer_start": [6]}, "passage": {"text": ["x"]}}
    wsc = {"text": "Mark told Pete he won.", "target": {"span1_text": "Mark", "span2_text": "he"}, "label": True}
    (tmp_path / "rows.jsonl").write_text(json.dumps(own) + "\n" + json.dumps(wsc) + "\n")
    assert read_rows(tmp_path / "rows.jsonl", []) == [own, {**{k: wsc[k] for k in ("text", "label")}, **wsc["target"]}]


def test_the_bootstrap_interval_holds_the_point_and_narrows_with_rows():
    rng = np.random.default_rng(3)
    widths = []
    for n in (50, 2000):
        right = rng.random(n) < 0.7
        got = scores.bootstrap(np.arange(n), lambda r, q, right=right: float(right[r].mean()))
        assert got["low"] <= got["value"] <= got["high"]
        widths.append(got["high"] - got["low"])
    assert widths[1] < widths[0] / 3


def test_a_model_learns_the_synthetic_data_and_the_table_has_every_pairing(finished, tmp_path, capsys):
    run_dir, summary = finished
    assert summary["gate"]["max_flip_rate"] == 0.9
    split = {s: pq.read_table(run_dir / RunDir.final(s)).to_pylist() for s in ("train", "validation")}
    names = list(run_task(RunDir(run_dir)).label_names)
    held = tmp_path / "reference"  # a reference set the user holds: a folder of train.jsonl and validation.jsonl
    held.mkdir()
    for s, rows in split.items():
        lines = [{"ticket": r["ticket"], "label": names[r["label"]]} for r in rows]
        (held / f"{s}.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    (tmp_path / "empty").mkdir()
    assert main(["evaluate", str(run_dir), "--reference", str(tmp_path / "empty")]) == 2
    assert "a reference folder with no .parquet, .jsonl, .json files" in capsys.readouterr().err
    result = api.evaluate(str(run_dir), [str(held)])
    pairs = [(p["train"], p["test"]) for p in result["pairs"]]
    assert pairs == [
        ("synthetic train", "synthetic test"),
        ("synthetic train", "reference validation"),
        ("reference train", "reference validation"),
        ("reference train", "synthetic test"),
    ]
    own = _own(result)
    assert set(own["scores"]) == {"accuracy", "macro_f1"} and np.array(own["confusion"]).sum() == own["test_rows"]
    assert own["scores"]["accuracy"]["low"] > own["chance"] + 0.1  # well above always answering the commonest
    metrics = json.loads((run_dir / RunDir.report() / "metrics.json").read_text())  # checked against its schema
    assert metrics["evaluation"] == result
    html = (run_dir / RunDir.report() / "report.html").read_text()
    assert "Does the data train a model?" in html and "reference train" in html
    # the evaluation stays in the report when it is analysed again, since the rows are the same
    assert api.analyze(str(run_dir))["evaluation"] == result
    # and goes into the published card
    api.publish(str(run_dir), str(tmp_path / "dest"))
    card = (tmp_path / "dest" / "README.md").read_text()
    assert "What a small model trained on this data scored" in card and "| synthetic train | synthetic test |" in card


def test_shuffled_labels_score_at_chance(finished, tmp_path):
    run_dir, _ = finished
    copy = _copy(run_dir, tmp_path / "shuffled")
    _shuffle_labels(copy)
    task = run_task(RunDir(run_dir))
    learnt, shuffled = _own(evaluate(str(run_dir))), _own(evaluate(str(copy)))
    accuracy, level = shuffled["scores"]["accuracy"], max(shuffled["chance"], 1 / len(task.label_names))
    assert accuracy["low"] <= level <= accuracy["high"] + 0.05
    assert accuracy["value"] < learnt["scores"]["accuracy"]["low"]


def test_a_declared_span_task_learns_where_its_answer_is_and_the_metric_can_fail(extractive, tmp_path, capsys):
    """No candidate list: every short run of the context's words is one. The fake answers with one of
    the context's names, often one its question mentions; answers moved to a random word of the context
    (not a stop word: "the" is every article, by SQuAD's normalisation) leave nothing to learn."""
    learnt = _own(api.evaluate(str(extractive)))
    assert learnt["available"] and set(learnt["scores"]) == {"em", "f1"} and learnt["test_rows"] == ROWS // 10
    em = learnt["scores"]["em"]
    assert em["low"] <= em["value"] <= em["high"] and em["low"] > learnt["chance"] + 0.1
    metrics = json.loads((extractive / RunDir.report() / "metrics.json").read_text())  # checked against its schema
    assert metrics["evaluation"]["model"] == "span" and metrics["evaluation"]["pairs"][0] == learnt
    assert main(["evaluate", str(extractive), "--model", "finetune"]) == 2  # a classifier has no labels to learn
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--model finetune" in err[0] and "span baseline" in err[0]

    copy = _copy(extractive, tmp_path / "moved")
    rng = np.random.default_rng(5)
    for split in ("train", "test"):
        for path in sorted((copy / RunDir.final(split)).glob("*.parquet")):
            t = pq.read_table(path)
            moved = []
            for context in t["context"].to_pylist():  # any word but a stop word, as likely as any other
                words = [m for m in re.finditer(r"\w+", context) if m.group().lower() not in ENGLISH_STOP_WORDS]
                word = words[int(rng.integers(0, len(words)))]
                moved.append({"text": [word.group()], "answer_start": [word.start()]})
            kind = t.schema.field("answers").type
            pq.write_table(t.set_column(t.schema.get_field_index("answers"), "answers", pa.array(moved, kind)), path)
    chance = _own(evaluate(str(copy)))
    assert chance["scores"]["em"]["low"] <= chance["chance"] + 0.05
    assert chance["scores"]["em"]["value"] < em["low"]


def test_a_squad_json_reference_is_read_as_a_row_per_question(extractive, tmp_path):
    """SQuAD's own files (data -> paragraphs -> qas; train-v1.1.json trains) as the reference set."""
    counts = {}
    for split, name in (("train", "train-v1.1.json"), ("validation", "dev-v1.1.json")):
        rows = pq.read_table(extractive / RunDir.final(split)).to_pylist()
        by_context: dict[str, list[dict]] = {}
        for r in rows:
            by_context.setdefault(r["context"], []).append(r)
        data = [
            {
                "title": group[0]["title"],
                "paragraphs": [
                    {
                        "context": context,
                        "qas": [
                            {
                                "id": r["id"],
                                "question": r["question"],
                                "answers": [
                                    {"text": r["answers"]["text"][0], "answer_start": r["answers"]["answer_start"][0]}
                                ],
                            }
                            for r in group
                        ],
                    }
                ],
            }
            for context, group in by_context.items()
        ]
        (tmp_path / name).write_text(json.dumps({"version": "1.1", "data": data}, indent=1))
        counts[split] = len(rows)
    result = api.evaluate(str(extractive), [str(tmp_path)])
    pairs = {(p["train"], p["test"]): p for p in result["pairs"]}
    assert set(pairs) == {
        ("synthetic train", "synthetic test"),
        ("synthetic train", "reference dev-v1.1"),
        ("reference train", "reference dev-v1.1"),
        ("reference train", "synthetic test"),
    }
    assert pairs[("reference train", "reference dev-v1.1")]["train_rows"] == counts["train"]
    assert pairs[("reference train", "reference dev-v1.1")]["test_rows"] == counts["validation"]
    assert all(p["available"] for p in result["pairs"])
    (tmp_path / "broken.json").write_text(json.dumps({"data": [{"title": "no paragraphs"}]}))
    with pytest.raises(SpecError, match=r"broken.json: not SQuAD's layout"):
        api.evaluate(str(extractive), [str(tmp_path / "broken.json")])


def test_a_declared_multiple_choice_task_is_scored_by_accuracy(multiple_choice, tmp_path, capsys):
    """Options in a list field and an answer one_of them: scored as SuperGLUE scores COPA, by accuracy,
    with a baseline that picks one option per row. Chance by hand from the test rows; then answers planted
    in the first option of every train row and of a known share of test rows, so the accuracy is that
    share, counted by hand."""
    assert main(["evaluate", str(multiple_choice)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("scored as multiple choice (accuracy): logistic regression over each option's")
    metrics = json.loads((multiple_choice / RunDir.report() / "metrics.json").read_text())  # checked against its schema
    own = _own(metrics["evaluation"])
    assert metrics["evaluation"]["model"] == "choice" and own["available"] and set(own["scores"]) == {"accuracy"}
    rows = {s: pq.read_table(multiple_choice / RunDir.final(s)).to_pylist() for s in ("train", "test")}
    assert (own["train_rows"], own["test_rows"]) == (len(rows["train"]), len(rows["test"])) == (120, 40)
    assert all(r["answer"] in r["options"] and len(r["options"]) > 1 for r in rows["train"] + rows["test"])
    assert own["chance"] == pytest.approx(np.mean([1 / len(r["options"]) for r in rows["test"]]), abs=1e-4)
    accuracy = own["scores"]["accuracy"]
    assert accuracy["low"] <= accuracy["value"] <= accuracy["high"]

    copy = _copy(multiple_choice, tmp_path / "planted")
    for split in ("train", "test"):
        for path in sorted((copy / RunDir.final(split)).glob("*.parquet")):
            t = pq.read_table(path)
            options = t["options"].to_pylist()
            planted = [o[0] if split == "train" or k % 4 else o[-1] for k, o in enumerate(options)]
            pq.write_table(t.set_column(t.schema.get_field_index("answer"), "answer", pa.array(planted)), path)
    test = pq.read_table(copy / RunDir.final("test")).to_pylist()
    by_hand = round(float(np.mean([r["answer"] == r["options"][0] for r in test])), 4)  # about 3 in 4
    assert 0.7 <= by_hand <= 0.8 and _own(api.evaluate(str(copy)))["scores"]["accuracy"]["value"] == by_hand


@pytest.mark.parametrize(
    ("gate", "figure"),
    [
        ({"max_flip_rate": 0.0}, r"self-correction flip rate .* > gate.max_flip_rate 0.0"),
        ({"min_label_share": 0.99}, r"label '\w+' is .* of \w+ .* < gate.min_label_share 0.99 \(and 2 more\)"),
        ({"min_score": 0.9}, r"evaluate accuracy .* \(synthetic train -> test, tfidf\) < gate.min_score 0.9"),
    ],
)
def test_the_gate_refuses_with_one_line_and_publishes_nothing(finished, tmp_path, capsys, gate, figure):
    run_dir, _ = finished
    copy = _copy(run_dir, tmp_path / "run", gate=gate)
    if "min_score" in gate:  # labels that do not fit their text: a model learns nothing from them
        _shuffle_labels(copy)
        assert main(["publish", str(copy), str(tmp_path / "early")]) == 2
        assert "needs an evaluation of these rows: run `targen evaluate" in capsys.readouterr().err
        api.evaluate(str(copy))
    assert main(["publish", str(copy), str(tmp_path / "dest")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "quality gate" in err and "--force-publish" in err
    assert re.search(figure, err), err
    assert not (tmp_path / "dest").exists()
    assert main(["publish", str(copy), str(tmp_path / "dest"), "--force-publish"]) == 0
    card = (tmp_path / "dest" / "README.md").read_text()
    manifest = json.loads((tmp_path / "dest" / "manifest.json").read_text())
    assert "Published over its quality gate" in card and manifest["gate"]["overridden"]


def test_counts_that_do_not_add_up_are_refused(finished, tmp_path, capsys):
    run_dir, summary = finished
    copy = _copy(run_dir, tmp_path / "run", rows={"counts_add_up": False})
    assert main(["publish", str(copy), str(tmp_path / "dest")]) == 2
    assert "row counts do not add up" in capsys.readouterr().err
    assert not (tmp_path / "dest").exists()


def test_an_evaluation_of_other_rows_does_not_count_for_the_gate(finished, tmp_path, capsys):
    run_dir, _ = finished
    copy = _copy(run_dir, tmp_path / "run", gate={"min_score": 0.1})
    api.evaluate(str(copy))
    assert main(["publish", str(copy), str(tmp_path / "ok")]) == 0
    path = sorted((copy / RunDir.final("test")).glob("*.parquet"))[0]
    t = pq.read_table(path)
    pq.write_table(t.slice(1), path)  # the rows changed after the evaluation
    assert main(["publish", str(copy), str(tmp_path / "dest")]) == 2
    assert "needs an evaluation of these rows" in capsys.readouterr().err
