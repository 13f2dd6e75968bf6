"""Tasks declared in the job file, no Python: the three shipped examples end to end on real Ray against
the fake provider (quotas, declared checks in rejects/, lineage, publish, `datasets` reading the
declared Features), a task with a field named `id`, `targen init`, and bad declarations."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from collections import Counter
from pathlib import Path

import datasets
import pyarrow.parquet as pq
import pytest
import yaml
from conftest import FAKE_KEY, ROOT
from harness.process import FakeProcess

from analysis.analyze import analyze
from targen_ray.config import SPLITS, load_job
from targen_ray.engine import job as job_mod
from targen_ray.engine import plan
from targen_ray.engine.publish import publish
from targen_ray.engine.runner import run
from targen_ray.engine.split import LINEAGE
from targen_ray.engine.store import RunDir
from targen_ray.engine.tasks import resolve
from targen_ray.interface.cli import main

LIMIT = 30
EXAMPLES = ["ticket_intent", "claim_evidence", "manual_qa"]


@pytest.fixture(scope="module")
def violating(ray_session, tmp_path_factory):
    """A fake that breaks a stated check in 20% of step-3 answers and plants 20% wrong labels."""
    server = FakeProcess(tmp_path_factory.mktemp("fake"), "--violation-rate", "0.2", "--wrong-label-rate", "0.2")
    yield server
    server.stop()


def load(path: Path, server: FakeProcess, **update) -> job_mod.Job:
    """A job on the fake with no re-asks (so a broken answer is a reject) and room for them."""
    job = job_mod.load(path, server.endpoints())
    spec = {"parse_retries": 0, "stop_error_rate": 0.9, "overgenerate": 0.4, **update}
    return dataclasses.replace(job, spec=job.spec.model_copy(update=spec))


def split_rows(run_dir: Path) -> dict[str, list[dict]]:
    return {
        s: pq.read_table(run_dir / RunDir.final(s)).to_pylist() for s in SPLITS if (run_dir / RunDir.final(s)).exists()
    }


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_end_to_end(violating, tmp_path, name):
    job = load(ROOT / "jobs" / f"{name}.yaml", violating)
    task, run_dir = job.task, tmp_path / "run"
    summary = run(job, str(run_dir), limit=LIMIT, in_driver=True)
    assert summary["complete"] and summary["rows"]["counts_add_up"]

    quotas = plan.quotas(job.spec, LIMIT)
    rows = split_rows(run_dir)
    for split, records in rows.items():
        counts = Counter(r["final_label"] for r in records)
        assert counts == Counter({lbl: q for (s, lbl), q in quotas.items() if s == split and q})
        for r in records:
            assert set(r) == {*task.record_schema.names, *(out for out, _ in LINEAGE)}
            assert r["seed_id"] and r["context_id"] and r["endpoint"] == "writer" and r["judge_model"] == "fake-judge"
            assert task.check({k: r[k] for k in task.instance_fields}) is None  # every kept row passes the checks
    assert summary["rows"]["self_corrected"] > 0  # the judge caught planted wrong labels (or answers)

    # The planted violations are rejects, each naming the declared check that caught it.
    rejects = pq.read_table(run_dir / RunDir.rejects("generate"))["error"].to_pylist()
    assert rejects and all(e.startswith(f"{name} check: ") for e in rejects)
    checks = {e.split(": ")[1].split(":")[0] for e in rejects}
    expected = {
        "ticket_intent": {"ticket.min_words", "ticket.max_words", "product.max_words"},
        "claim_evidence": {"claim.min_words", "claim.max_words"},
        "manual_qa": {
            "answers.span_in",
            "answers.max_words",
            "question.min_words",
            "question.max_words",
            "title.max_words",
        },
    }[name]
    assert checks and checks <= expected

    # Published, and read back by `datasets` with the declared features from the Parquet files alone.
    dest = tmp_path / "dest"
    publish(str(run_dir), str(dest))
    files = {s: sorted(str(p) for p in dest.glob(f"data/{s}-*.parquet")) for s in rows}
    loaded = datasets.load_dataset("parquet", data_files=files, cache_dir=str(tmp_path / "hf"))
    assert {s: len(loaded[s]) for s in rows} == {s: len(r) for s, r in rows.items()}
    features = loaded["train"].features
    assert list(features) == task.record_schema.names
    if name == "manual_qa":
        assert "label" not in features
        assert set(features["answers"].feature if hasattr(features["answers"], "feature") else features["answers"]) == {
            "text",
            "answer_start",
        }
        for r in loaded["train"]:
            text, start = r["answers"]["text"][0], r["answers"]["answer_start"][0]
            assert r["context"][start : start + len(text)] == text
    else:
        assert features["label"].names == list(job.spec.labels)
    card = yaml.safe_load((dest / "README.md").read_text().split("---\n")[1])
    assert card["task_categories"] == list(task.task_categories) and "superglue" not in card["tags"]


def test_near_duplicates_are_planted_and_dropped(violating, tmp_path):
    """The fake's near-duplicate seeds make near-duplicate instances of a declared task, and stage 5
    drops them (its own quality is measured in test_dedup_quality.py)."""
    job = load(ROOT / "jobs" / "ticket_intent.yaml", violating, parse_retries=2)
    summary = run(job, str(tmp_path / "run"), limit=40, in_driver=True)
    assert summary["complete"] and summary["dedup"]["exact"] + summary["dedup"]["near"] > 0


def test_a_field_named_id_and_no_idx(violating, tmp_path):
    """Lineage never collides with a task's fields: the task's `id` is published, lineage's is `_id`."""
    project = tmp_path / "project"
    shutil.copytree(ROOT / "prompts" / "ticket_intent", project / "prompts" / "ticket_intent")
    spec = yaml.safe_load((ROOT / "jobs" / "ticket_intent.yaml").read_text())
    spec["prompts"] = "prompts/ticket_intent"
    fields = spec["task"]["fields"]
    spec["task"]["fields"] = {"ticket": fields["ticket"], "id": fields["product"]}
    spec["task"]["checks"] = [{"field": "ticket", "min_words": 8}, {"field": "id", "non_empty": True}]
    correct = project / "prompts" / "ticket_intent" / "correct.j2"
    correct.write_text(correct.read_text().replace("instance.product", "instance.id"))
    (project / "job.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    job = load(project / "job.yaml", violating, stop_error_rate=0.9)
    run_dir = tmp_path / "run"
    summary = run(job, str(run_dir), limit=10, in_driver=True)
    assert summary["complete"]
    train = pq.read_table(run_dir / RunDir.final("train"))
    assert {"id", "_id", "ticket", "label"} <= set(train.schema.names) and "idx" not in train.schema.names
    assert train["id"].to_pylist() != train["_id"].to_pylist()  # the model's id, and the row's lineage id
    analyze(str(run_dir))
    metrics = json.loads((run_dir / RunDir.report() / "metrics.json").read_text())
    assert metrics["datasets"]["synthetic"]["rows"] == 10
    publish(str(run_dir), str(tmp_path / "dest"))
    published = pq.read_table(next((tmp_path / "dest" / "data").glob("train-*.parquet")))
    assert published.schema.names == ["ticket", "id", "label"]


def test_init_writes_a_task_that_estimates_and_runs(violating, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FAKE_API_KEY", FAKE_KEY)
    assert (
        main(
            ["init", "triage", "--description", "Route tickets to a team.", "--labels", "a,b,c", "--dir", str(tmp_path)]
        )
        == 0
    )
    assert main(["init", "qa", "--description", "Questions on a manual.", "--extractive", "--dir", str(tmp_path)]) == 0
    capsys.readouterr()
    for name in ("triage", "qa"):
        job_file = tmp_path / "jobs" / f"{name}.yaml"
        assert main(["estimate", str(job_file)]) == 0  # the local endpoints init wrote: no key needed
        assert "total" in capsys.readouterr().out
        summary = run(load(job_file, violating), str(tmp_path / f"run-{name}"), limit=6, in_driver=True)
        assert summary["complete"]
    assert main(["init", "qa", "--description", "again", "--dir", str(tmp_path)]) == 2
    assert "already exists" in capsys.readouterr().err


# -- bad declarations: one line naming file, line and field, exit 2, before any request -------------------


@pytest.fixture
def project(tmp_path) -> Path:
    shutil.copytree(ROOT / "jobs", tmp_path / "jobs")
    shutil.copytree(ROOT / "prompts", tmp_path / "prompts")
    return tmp_path


BAD = [
    ("manual_qa", "title: {type: string,", "title: {type: date,", ":13: task.fields.title.type: Input should be"),
    (
        "manual_qa",
        "{type: span, in: context,",
        "{type: span, in: passage,",
        ":16: task.fields.answers.in: span target 'passage' is not a string field (fields: title, context, question",
    ),
    (
        "ticket_intent",
        "{field: ticket, differs_from: [product]}",
        "{field: ticket, differs_from: [produkt]}",
        ":22: task.checks.2.differs_from: check on unknown field 'produkt'",
    ),
    (
        "claim_evidence",
        "    refutes: The evidence shows the claim is false (a changed name, number, date, place or relation).\n"
        "    not_enough_info: The claim is about the same subject, but the evidence neither confirms nor denies it.\n",
        "",
        ":14: task.labels: a classification task needs at least 2 labels, got 1",
    ),
    ("claim_evidence", "seed_field: evidence", "seed_field: proof", ":7: task.seed_field: seed_field 'proof' is not"),
    (
        "ticket_intent",
        "    product: {type: string, text: false,",
        "    product: {type: string, txt: false,",
        ":12: task.fields.product.txt: unknown field",
    ),
    (
        "ticket_intent",
        "{field: product, non_empty: true, max_words: 6}",
        "{field: product, non_empty: true, min: 1}",
        ":21: task.checks.1.min: min bounds an integer field; 'product' is a string",
    ),
]


@pytest.mark.parametrize(("name", "old", "new", "expected"), BAD)
def test_bad_declaration(project, capsys, name, old, new, expected):
    job = project / "jobs" / f"{name}.yaml"
    text = job.read_text()
    assert old in text
    job.write_text(text.replace(old, new, 1))
    code = main(["run", str(job), "--endpoints", str(project / "jobs" / "endpoints" / "fake.yaml")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert err.startswith(f"targen: error: {job}") and expected in err, err


def test_template_reads_a_field_the_task_does_not_have(project, capsys):
    correct = project / "prompts" / "ticket_intent" / "correct.j2"
    correct.write_text(correct.read_text().replace("{{ instance.product }}", "{{ instance.customer }}"))
    code = main(["run", str(project / "jobs" / "ticket_intent.yaml")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert err == (
        f"targen: error: {correct}:5: instance.customer: the task has no such field (fields: ticket, product)"
    )


# -- what a rehearsal on the fake passes: integer bounds, regular expressions ------------------------------

REHEARSED = [
    {"field": "ticket", "matches": r"\?$"},  # a required end
    {"field": "ticket", "matches": r"^(What|Why|How)\b"},  # a required start
    {"field": "ticket", "not_matches": r"(?i)\bthe\b"},  # a forbidden word
    {"field": "ticket", "matches": r"\bplease\b"},  # a required word
    {"field": "product", "matches": r"^[a-z ]+$"},  # a character class over the whole field
    {"field": "grade", "min": 3, "max": 12},
]


def rehearsal_job(folder: Path, checks: list[dict]) -> Path:
    """ticket_intent with an integer field `grade` and `checks` added, its prompts beside it (stage 5
    exact only: not what these tests are about)."""
    shutil.copytree(ROOT / "prompts" / "ticket_intent", folder / "prompts")
    spec = yaml.safe_load((ROOT / "jobs" / "ticket_intent.yaml").read_text())
    spec.update(prompts="prompts", dedup={"near": False})
    spec["task"]["fields"]["grade"] = {"type": "integer", "description": "The school grade of the customer's child."}
    spec["task"]["checks"] += checks
    path = folder / "job.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def test_integer_bounds_are_a_check_and_in_the_schema(tmp_path):
    task = resolve(load_job(rehearsal_job(tmp_path, REHEARSED)).task)
    grade = task.instance_schema["properties"]["grade"]
    assert (grade["type"], grade["minimum"], grade["maximum"]) == ("integer", 3, 12)
    row = {"ticket": "What went wrong with my order of a lamp last week, please?", "product": "a lamp"}
    assert task.check({**row, "grade": 2}) == "grade.min: 2 is less than 3"
    assert task.check({**row, "grade": 13}) == "grade.max: 13 is more than 12"
    assert task.check({**row, "grade": 12}) is None


def test_a_rehearsal_passes_regex_and_integer_checks(ray_session, fake, tmp_path, capsys):
    """The fake reads the expressions and bounds off the step-3 schema and writes rows that pass them."""
    job, run_dir = rehearsal_job(tmp_path, REHEARSED), tmp_path / "run"
    argv = ["run", str(job), "--endpoints", str(fake.endpoints()), "--limit", "8", "--run-dir", str(run_dir)]
    assert main([*argv, "--in-driver", "--no-analyze"]) == 0
    assert "cannot satisfy" not in capsys.readouterr().err
    task = resolve(load_job(job).task)
    rows = [r for records in split_rows(run_dir).values() for r in records]
    assert len(rows) == 8
    for r in rows:
        assert r["ticket"].endswith("?") and re.match(r"(What|Why|How) ", r["ticket"]), r["ticket"]
        assert " the " not in f" {r['ticket'].lower()} " and " please" in r["ticket"], r["ticket"]
        assert re.fullmatch("[a-z ]+", r["product"]), r["product"]
        assert 3 <= r["grade"] <= 12 and task.check({k: r[k] for k in task.instance_fields}) is None


def test_a_rehearsal_names_the_checks_the_fake_cannot_pass(ray_session, fake, tmp_path, capsys):
    job, run_dir = rehearsal_job(tmp_path, [{"field": "product", "matches": "(?<=foo)bar"}]), tmp_path / "run"
    argv = ["run", str(job), "--endpoints", str(fake.endpoints()), "--limit", "4", "--run-dir", str(run_dir)]
    assert main([*argv, "--in-driver", "--no-analyze"]) == 4
    assert capsys.readouterr().err.splitlines()[0] == (
        "targen: rehearsal: the fake provider cannot satisfy product.matches '(?<=foo)bar'; its rows failing "
        "them go to rejects/"
    )
    rejects = pq.read_table(run_dir / RunDir.rejects("generate"))["error"].to_pylist()
    assert rejects and all("product.matches: no match of '(?<=foo)bar'" in e for e in rejects)
