"""Step 4 by a panel of judges: each answers every row through its own stage, the panel votes, and the
vote is decided again from the stored answers. The fake plants wrong labels and makes each judge model
err on its own share of verdicts, so the panel's benefit is measured against the fake's ground truth."""

from __future__ import annotations

import csv
import json
import re
import shutil
from collections import Counter
from unittest.mock import ANY

import pyarrow.parquet as pq
import pytest
import yaml
from conftest import BOOLQ, final_ids
from harness.process import FakeProcess, with_panel

from targen_ray.engine import agreement
from targen_ray.engine import job as job_mod
from targen_ray.engine.estimate import estimate
from targen_ray.engine.gate import failures as gate_failures
from targen_ray.engine.panel import vote
from targen_ray.engine.runner import run
from targen_ray.engine.store import RunDir
from targen_ray.errors import SpecError
from targen_ray.fake.tasks.boolq import truth_of
from targen_ray.interface import api
from targen_ray.interface.cli import main

JUDGES = {"judge_a": "judge-a", "judge_b": "judge-b", "judge_c": "judge-c"}
ROWS = 80


def test_cohen_and_fleiss_kappa_match_a_case_worked_by_hand():
    # Two raters, 10 items: agree on 7 (4 yes, 3 no). a says yes 6 times, b 5 times.
    a = ["y", "y", "y", "y", "n", "n", "n", "y", "y", "n"]
    b = ["y", "y", "y", "y", "n", "n", "n", "n", "n", "y"]
    # p_o = 0.7; p_e = 0.6 * 0.5 + 0.4 * 0.5 = 0.5; kappa = (0.7 - 0.5) / 0.5 = 0.4
    assert agreement.cohen(a, b) == 0.4
    # Three raters, 4 items: [y y y] [y y n] [n n n] [y n n].
    # P_i = (sum n_ij^2 - 3) / 6: 1, 1/3, 1, 1/3 -> P_bar = 2/3; p_y = p_n = 0.5 -> P_e = 0.5
    # kappa = (2/3 - 1/2) / (1/2) = 1/3. Per category (both 0.5): 1 - sum n(3-n) / (4*3*2*0.25) = 1 - 4/6
    out = agreement.fleiss([["y", "y", "y"], ["y", "y", "n"], ["n", "n", "n"], ["y", "n", "n"]])
    assert out["kappa"] == round(1 / 3, 4) and out["per_category"] == {"n": round(1 / 3, 4), "y": round(1 / 3, 4)}
    assert agreement.cohen(["y"] * 3, ["y"] * 3) is None  # one category: chance agreement is total


def test_the_vote_rules():
    assert vote([1, 1, 0], "majority") == (1, True, False)
    assert vote([1, 0], "majority") == (None, True, True)  # a tie: the caller keeps step 3's label
    assert vote([1, None, 1], "majority") == (1, False, False)  # a judge that failed is left out
    assert vote([1, 1, 0], "unanimous") == (None, True, False)
    assert vote([1, None, 1], "unanimous") == (None, False, False)  # incomplete, not a disagreement
    assert vote([0, 0, 0], "unanimous") == (0, False, False)


@pytest.fixture(scope="module")
def fallible(ray_session, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("panel")
    rates = [arg for model in JUDGES.values() for arg in ("--judge-error-rate", f"{model}=0.15")]
    fake = FakeProcess(tmp, "--wrong-label-rate", "0.2", *rates)
    yield fake, fake.endpoints(writer="openai", judge="openai", judges=JUDGES), tmp
    fake.stop()


def _load(tmp, endpoints, judges, vote_rule="majority"):
    return job_mod.load(with_panel(BOOLQ, tmp, judges, vote_rule, max_rounds=1), endpoints)


def _wrong(run_dir) -> tuple[int, int]:
    """(rows, rows whose final label is not the fake's ground truth) over the final splits."""
    rows = [r for split in ("train", "validation", "test") for r in _final(run_dir, split)]
    return len(rows), sum(truth_of(r["passage"], r["question"]) != bool(r["label"]) for r in rows)


def _final(run_dir, split):
    folder = run_dir / RunDir.final(split)
    return [r for p in sorted(folder.glob("*.parquet")) for r in pq.read_table(p).to_pylist()]


def test_a_panel_is_right_more_often_than_one_judge_and_a_new_vote_costs_nothing(fallible):
    fake, endpoints, tmp = fallible
    one = run(_load(tmp, endpoints, ["judge_a"]), str(tmp / "one"), limit=ROWS, in_driver=True)
    sent = len(fake.log())
    three = run(_load(tmp, endpoints, list(JUDGES)), str(tmp / "three"), limit=ROWS, in_driver=True)
    panel_log = fake.log()[sent:]
    # Every generated row went to every judge, each judge on its own model.
    judged = [e for e in panel_log if e["schema"] == "boolq_correct"]
    assert {e["model"] for e in judged} == set(JUDGES.values())
    assert three["stages"]["correct"]["requests"] == len(judged) == 3 * three["stages"]["generate"]["kept"]
    assert set(three["stages"]["correct"]["judges"]) == set(JUDGES)
    n1, wrong1 = _wrong(tmp / "one")
    n3, wrong3 = _wrong(tmp / "three")
    assert n1 and n3 and wrong3 < wrong1, (wrong1, n1, wrong3, n3)

    figures = three["panel"]
    assert figures["judges"] == list(JUDGES) and figures["rows"] == three["stages"]["generate"]["kept"]
    assert 0 < figures["split_vote_share"] < 1 and 0 < figures["fleiss_kappa"] < 1
    assert all(0 < k < 1 for k in figures["cohen_kappa"].values()) and len(figures["cohen_kappa"]) == 3
    assert all(0 < r < 0.5 for r in figures["flip_rate"].values())
    assert set(figures["fleiss_kappa_per_label"]) == {"no", "yes"}
    assert one["panel"] is None

    # Each judge's answer is on the decided row and in the final lineage.
    decided = pq.read_table(tmp / "three" / RunDir.stage_dir("correct")).to_pylist()
    split_ids = {r["id"] for r in decided if r["split_vote"]}
    first = json.loads(decided[0]["judges"])
    assert [j["judge"] for j in first] == list(JUDGES) and all(j["rationale"] for j in first)
    assert "judges" in _final(tmp / "three", "train")[0]

    # A resumed run sends nothing; the decided rows lost are decided again from the stored answers.
    whole = final_ids(tmp / "three")
    shutil.rmtree(tmp / "three" / RunDir.stage_dir("correct"))
    before = len(fake.log())
    run(_load(tmp, endpoints, list(JUDGES)), str(tmp / "three"), limit=ROWS, in_driver=True)
    assert len(fake.log()) == before and final_ids(tmp / "three") == whole

    # The same run under `unanimous`: rejects exactly the split rows, with no new request.
    again = run(_load(tmp, endpoints, list(JUDGES), "unanimous"), str(tmp / "three"), limit=ROWS, in_driver=True)
    assert len(fake.log()) == before
    rejected = pq.read_table(tmp / "three" / RunDir.rejects("correct")).to_pylist()
    assert {r["id"] for r in rejected} == split_ids
    assert all(r["error"].startswith("panel disagreement: judge_a") for r in rejected)
    assert again["rejects_by_reason"]["correct: panel disagreement"] == len(split_ids)
    assert again["rows"]["counts_add_up"]


def test_a_judge_losing_answers_sends_only_those_again(fallible):
    fake, endpoints, tmp = fallible
    job = _load(tmp, endpoints, list(JUDGES))
    run(job, str(tmp / "lost"), limit=40, in_driver=True)
    part = sorted((tmp / "lost" / RunDir.stage_dir("correct@judge_b")).glob("r0-part-*.parquet"))[0]
    table = pq.read_table(part)
    lost = table.num_rows // 2
    pq.write_table(table.slice(0, table.num_rows - lost), part)
    shutil.rmtree(tmp / "lost" / RunDir.stage_dir("correct"))
    before = len(fake.log())
    summary = run(job, str(tmp / "lost"), limit=40, in_driver=True)
    resent = fake.log()[before:]
    assert lost and len(resent) == lost and {e["model"] for e in resent} == {"judge-b"}
    # The lost answers were never written (as when a worker dies before its part): the ledger holds
    # what was kept and what was sent again.
    assert summary["stages"]["correct"]["judges"]["judge_b"]["requests"] == table.num_rows

    # The agreement figures reach metrics.json, report.html and the published card.
    metrics = api.analyze(str(tmp / "lost"))
    assert metrics["panel"] == summary["panel"]
    html = (tmp / "lost" / RunDir.report() / "report.html").read_text()
    assert "Judge panel" in html and "Fleiss" in html
    dest, _ = api.publish(str(tmp / "lost"), str(tmp / "lost-published"), allow_incomplete=True)
    card = (tmp / "lost-published" / "README.md").read_text()
    assert "## Judge panel" in card and f"Fleiss' kappa {summary['panel']['fleiss_kappa']}" in card


@pytest.mark.parametrize(
    ("correct", "message"),
    [
        ({"panel": ["judge_a", "nobody"]}, r"steps\.correct\.panel: 'nobody' is not defined in .*endpoints"),
        ({"panel": ["judge_a"]}, r"a panel needs at least two distinct endpoints"),
        ({"panel": ["judge_a", "judge_b"], "endpoint": "judge"}, r"either endpoint .* or panel"),
        ({"panel": ["judge_a", "judge_b"], "vote": "most"}, r"steps\.correct\.vote"),
    ],
)
def test_a_bad_panel_is_one_line(fallible, correct, message):
    _, endpoints, tmp = fallible
    spec = yaml.safe_load(BOOLQ.read_text())
    spec["prompts"] = str((BOOLQ.parent / spec["prompts"]).resolve())
    spec["steps"]["correct"] = {"max_tokens": 160, **correct}
    path = tmp / "bad-panel.yaml"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(SpecError, match=message) as e:
        job_mod.load(path, endpoints)
    assert "\n" not in str(e.value)


@pytest.fixture(scope="module")
def audited(fallible):
    """A finished panel run, a fixed sample of it, and two reviewers' decisions in the run's own format:
    `ann` labels every sampled row with the fake's ground truth, `bob` the first ten, flipping two."""
    fake, endpoints, tmp = fallible
    run_dir = tmp / "audited"
    run(_load(tmp, endpoints, list(JUDGES)), str(run_dir), limit=40, in_driver=True)
    assert main(["review", str(run_dir), "--export", "csv", "--per-label", "6"]) == 0
    rows = list(csv.DictReader((run_dir / RunDir.review_export("csv")).open()))
    truth = {r["id"]: ["False", "True"][truth_of(r["passage"], r["question"])] for r in rows}  # the ClassLabel
    folder = run_dir / RunDir.review_decisions()
    folder.mkdir(parents=True)
    ann = [{"id": i, "label": label, "defects": []} for i, label in truth.items()]
    ann[0] = {**ann[0], "label": "False" if ann[0]["label"] == "True" else "True"}  # a slip, then taken back
    ann += [{"id": ann[0]["id"], "undo": True}, {"id": ann[0]["id"], "label": truth[ann[0]["id"]]}]
    ann[1] = {**ann[1], "defects": ["not fluent"]}
    (folder / "ann.jsonl").write_text("".join(json.dumps(d) + "\n" for d in ann))
    flip = {"True": "False", "False": "True"}
    bob = [{"id": i, "label": flip[label] if n < 2 else label} for n, (i, label) in enumerate(list(truth.items())[:10])]
    (folder / "bob.jsonl").write_text("".join(json.dumps(d) + "\n" for d in bob))
    return run_dir, rows, truth


def test_review_samples_the_same_rows_each_time_stratified_by_label(audited):
    run_dir, rows, _ = audited
    assert len(rows) == 12 and Counter(r["final_label"] for r in rows) == {"False": 6, "True": 6}
    assert main(["review", str(run_dir), "--export", "labelstudio", "--per-label", "6"]) == 0
    tasks = json.loads((run_dir / RunDir.review_export("labelstudio")).read_text())
    assert [t["data"]["id"] for t in tasks] == [r["id"] for r in rows]  # the stored seed: the same sample
    assert main(["review", str(run_dir), "--export", "csv", "--per-label", "6"]) == 0
    assert list(csv.DictReader((run_dir / RunDir.review_export("csv")).open())) == rows
    choice = tasks[0]["predictions"][0]["result"][0]
    assert choice["type"] == "choices" and choice["value"]["choices"] == [rows[0]["final_label"]]
    assert set(tasks[0]["data"]) >= {"id", "question", "passage"}


def test_audit_reproduces_the_accuracy_worked_by_hand_and_the_gate_uses_it(audited, capsys):
    run_dir, rows, truth = audited
    assert main(["audit", str(run_dir)]) == 0
    result = json.loads((run_dir / RunDir.audit_file()).read_text())
    final = {r["id"]: r["final_label"] for r in rows}
    # Gold: ann's labels (bob's two flips tie 1-1 with ann; the first reviewer by name stands).
    hits = sum(final[i] == truth[i] for i in truth)
    assert result["rows"] == 12 and result["accuracy"]["value"] == round(hits / 12, 4)
    p, n, z = hits / 12, 12, 1.96
    low = (p + z * z / (2 * n) - z * (p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / (1 + z * z / n)
    assert result["accuracy"]["low"] == round(low, 4)
    initial = {r["id"]: r["initial_label"] for r in rows}
    assert result["step3_accuracy"]["value"] == round(sum(initial[i] == truth[i] for i in truth) / 12, 4)
    assert set(result["judges"]) == set(JUDGES) and result["defect_rates"] == {"not fluent": round(1 / 22, 4)}
    assert result["reviewer_agreement"]["ann~bob"] == {"rows": 10, "agreement": 0.8, "cohen_kappa": ANY}
    assert "label accuracy" in capsys.readouterr().out

    gate = {"min_audit_accuracy": 0.99, "min_audit_rows": 50}
    failures = gate_failures(RunDir(run_dir), {**_summary(run_dir), "gate": gate}, None)
    assert any("lower bound < gate.min_audit_accuracy 0.99" in f for f in failures)
    assert any("reviewed 12 rows < gate.min_audit_rows 50" in f for f in failures)
    dest, _ = api.publish(str(run_dir), str(run_dir.parent / "audited-published"), allow_incomplete=True)
    card = (run_dir.parent / "audited-published" / "README.md").read_text()
    assert f"label accuracy **{result['accuracy']['value']:.1%}**" in card


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("id,label\nnot-a-row,yes\n", r"decision 1: id 'not-a-row' is not a final row"),
        ("id,label\n{id},maybe\n", r"decision 1: label 'maybe' is not one of \['False', 'True'\]"),
    ],
)
def test_a_bad_decisions_file_is_one_line(audited, tmp_path, capsys, line, message):
    run_dir, rows, _ = audited
    bad = tmp_path / "bad.csv"
    bad.write_text(line.format(id=rows[0]["id"]))
    assert main(["audit", str(run_dir), "--decisions", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert re.search(message, err) and "\n" not in err and str(bad) in err


def _summary(run_dir) -> dict:
    return json.loads((run_dir / RunDir.summary_file()).read_text())


def test_the_estimate_counts_every_judge(fallible):
    _, endpoints, tmp = fallible
    one = estimate(_load(tmp, endpoints, ["judge_a"]), 40)["correct"]
    three = estimate(_load(tmp, endpoints, list(JUDGES)), 40)["correct"]
    assert three["requests"] == 3 * one["requests"] and three["input_tokens"] == 3 * one["input_tokens"]
    assert three["usd"] == pytest.approx(3 * one["usd"], abs=1e-3)


def test_a_judge_dropped_by_force_keeps_its_spend_in_the_ledger(fallible):
    """`--force correct` with a smaller panel: the dropped judge's answers were paid for, so the ledger,
    step 4's cost and the budget's spend still count them."""
    fake, endpoints, tmp = fallible
    first = run(_load(tmp, endpoints, list(JUDGES)), str(tmp / "dropped"), limit=20, in_driver=True)
    dropped = list(JUDGES)[-1]
    then = run(
        _load(tmp, endpoints, list(JUDGES)[:-1]), str(tmp / "dropped"), limit=20, force=["correct"], in_driver=True
    )
    assert then["ledger"][dropped] == first["ledger"][dropped] and then["ledger"][dropped]["requests"] > 0
    assert then["stages"]["correct"]["usd"] >= first["stages"]["correct"]["usd"]
    assert then["usd"] == pytest.approx(sum(e["usd"] for e in then["ledger"].values()), abs=1e-5)


def test_a_single_judge_replaced_by_a_panel_keeps_the_judge_s_spend(fallible):
    """`--force correct` from one judge to a panel moves the judge's rows (with a ledger) to step 4's
    superseded folder: its spend stays counted beside the panel's, and nothing is counted twice."""
    fake, endpoints, tmp = fallible
    judges = list(JUDGES)
    single = run(_load(tmp, endpoints, judges[:1]), str(tmp / "swap"), limit=20, in_driver=True)
    panel = run(_load(tmp, endpoints, judges), str(tmp / "swap"), limit=20, force=["correct"], in_driver=True)
    old = single["ledger"][judges[0]]
    assert old["requests"] > 0 and panel["ledger"][judges[0]]["requests"] > old["requests"]
    assert panel["usd"] == pytest.approx(sum(e["usd"] for e in panel["ledger"].values()), abs=1e-5)
    probed = sum(p["requests"] for p in panel["probes"].values() if p["endpoint"] in judges)
    paid = sum(panel["ledger"][j]["requests"] for j in judges) - probed
    assert panel["stages"]["correct"]["requests"] == paid
