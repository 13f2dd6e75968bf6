"""MultiRC: end to end against the fake provider, and the task's check, idx and export on hand-made rows."""

from __future__ import annotations

import json
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
from targen_ray.engine.store import RunDir
from targen_ray.engine.tasks import get_task
from targen_ray.fake.tasks.multirc import truth_of
from targen_ray.interface import api

TASK = get_task("multirc")
LIMIT = 30
PARAGRAPH = (
    "The Royal Guild was founded in Elsford in 1802 by Ada Whitcombe. Its first meetings were about "
    "clock making. In 1830 the leadership passed to Piotr Valen. By then it counted 240 members."
)


def _hf_rows(line: dict) -> list[dict]:
    """A SuperGLUE MultiRC JSONL line flattened the way the Hugging Face `super_glue` loader does."""
    passage = line["passage"]
    return [
        {
            "paragraph": passage["text"],
            "question": q["question"],
            "answer": a["text"],
            "idx": {"paragraph": line["idx"], "question": q["idx"], "answer": a["idx"]},
            "label": int(bool(a["label"])),
        }
        for q in passage["questions"]
        for a in q["answers"]
    ]


def test_multirc_end_to_end(ray_session, fake, tmp_path):
    job = job_mod.load(ROOT / "jobs" / "multirc.yaml", fake.endpoints(writer="openai", judge="anthropic"))
    run_dir = tmp_path / "run"
    summary = run(job, str(run_dir), limit=LIMIT, in_driver=True)

    quotas = plan.quotas(job.spec, LIMIT)
    ids, finals = [], {}
    for split in SPLITS:
        table = pq.read_table(run_dir / RunDir.final(split))
        assert table.schema.names == [*TASK.record_schema.names, *(out for out, _ in LINEAGE)]
        assert table.select(TASK.record_schema.names).schema.equals(TASK.record_schema)
        assert Counter(table["label"].to_pylist()) == Counter(
            {lbl: quotas[(split, lbl)] for lbl in range(2) if quotas[(split, lbl)]}
        )
        rows = sorted(table.to_pylist(), key=lambda r: r["idx"]["answer"])  # final/ files are each in idx order
        n = len(rows)
        assert [r["idx"]["answer"] for r in rows] == list(range(n))
        assert [r["idx"]["question"] for r in rows] == list(range(n))  # one answer per question
        # one seed per row, so one paragraph per row, numbered in idx order
        assert [r["idx"]["paragraph"] for r in rows] == list(range(n))
        for r in rows:
            assert TASK.check(r) is None
            assert r["label"] == r["final_label"]
            # 20% of generations carry a planted wrong verdict; the judge must have fixed every one
            assert truth_of(r["paragraph"], r["question"], r["answer"]) == bool(r["label"])
        ids += table["id"].to_pylist()
        finals[split] = rows
    assert len(ids) == len(set(ids)) == LIMIT
    assert summary["complete"] and summary["rows"]["counts_add_up"]
    assert summary["rows"]["self_corrected"] > 0
    assert summary["rows"]["kept"] == LIMIT
    # `targen evaluate`: MultiRC's rows group into questions, scored whole too (EM) as SuperGLUE does
    (own,) = [p for p in api.evaluate(str(run_dir))["pairs"] if p["test"] == "synthetic test"]
    assert own["available"] and set(own["scores"]) == {"accuracy", "f1", "mcc", "em"}

    # The original nested JSONL: one line per answer row, which the HF loader flattens back to the row.
    files = {"train": "train.jsonl", "validation": "val.jsonl", "test": "test.jsonl"}
    written = export_superglue(TASK, RunDir(str(run_dir)))
    assert written == {files[s]: len(finals[s]) for s in SPLITS}
    for split, name in files.items():
        lines = [json.loads(x) for x in (run_dir / RunDir.superglue() / name).read_text().splitlines()]
        for line in lines:
            assert set(line) == {"idx", "version", "passage"} and set(line["passage"]) == {"text", "questions"}
            (q,) = line["passage"]["questions"]
            assert set(q) == {"question", "answers", "idx"}
            assert all(set(a) == {"text", "idx", "label"} and a["label"] in (0, 1) for a in q["answers"])
        flat = sorted((row for line in lines for row in _hf_rows(line)), key=lambda r: r["idx"]["answer"])
        assert flat == [{k: r[k] for k in TASK.record_schema.names} for r in finals[split]]
        # ... and so does a reference set given in that layout (decontamination, `targen evaluate`)
        read = read_rows(run_dir / RunDir.superglue() / name, TASK.text_fields)
        assert (
            sorted(({k: r[k] for k in TASK.record_schema.names} for r in read), key=lambda r: r["idx"]["answer"])
            == flat
        )
    reference = [str(run_dir / RunDir.superglue() / files[s]) for s in ("train", "validation")]
    pairs = [(p["train"], p["test"]) for p in api.evaluate(str(run_dir), reference)["pairs"]]
    assert ("synthetic train", "reference val") in pairs and ("reference train", "synthetic test") in pairs


def _fields(**change) -> dict:
    return {
        "paragraph": PARAGRAPH,
        "question": "How many members did the guild have when Piotr Valen took it over?",
        "answer": "240 members",
        **change,
    }


def test_check_accepts_a_good_row():
    assert TASK.check(_fields()) is None


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"paragraph": ""}, "empty paragraph"),
        ({"paragraph": "The Royal Guild was founded in Elsford in 1802 by Ada Whitcombe"}, "fewer than 2 sentences"),
        ({"question": "Members?"}, "fewer than 3 words"),
        ({"question": "How many members did the guild have then"}, "does not end with '?'"),
        ({"question": "By then it counted 240 members?"}, "copied from the paragraph"),
        ({"question": "in 1830 the LEADERSHIP passed to Piotr Valen?"}, "copied from the paragraph"),
        ({"answer": " . "}, "empty answer"),
        ({"answer": "how many members did the guild have when Piotr Valen took it over"}, "repeats the question"),
        ({"answer": "Correct."}, "verdict word"),
        ({"answer": "False"}, "verdict word"),
        ({"answer": " ".join(["word"] * 51)}, "longer than 50 words"),
    ],
)
def test_check_rejects_impossible_rows(change, reason):
    problem = TASK.check(_fields(**change))
    assert problem is not None and reason in problem


def test_build_keeps_the_paragraph_and_puts_question_and_answer_on_one_line():
    fields = TASK.build(f"  {PARAGRAPH}\n", {"question": " Who led\nthe guild in 1830? ", "answer": "Piotr\n Valen "})
    assert fields == {"paragraph": PARAGRAPH, "question": "Who led the guild in 1830?", "answer": "Piotr Valen"}
    assert list(fields) == [f for f in TASK.record_schema.names if f not in ("idx", "label")]


def test_make_idx_groups_rows_of_one_seed_under_one_paragraph():
    keys = pa.table(
        {
            "id": ["a", "b", "c", "d", "e"],
            "split": ["train"] * 5,
            "final_label": pa.array([1, 0, 0, 1, 1], pa.int64()),
            "round": pa.array([0] * 5, pa.int32()),
            "seed_id": ["s9", "s2", "s9", "s5", "s2"],
            "order": ["1", "2", "3", "4", "5"],
        }
    )
    idx = TASK.make_idx(keys)
    assert idx.type == TASK.record_schema.field("idx").type
    assert idx.to_pylist() == [
        {"paragraph": 0, "question": 0, "answer": 0},
        {"paragraph": 1, "question": 1, "answer": 1},
        {"paragraph": 0, "question": 2, "answer": 2},
        {"paragraph": 2, "question": 3, "answer": 3},
        {"paragraph": 1, "question": 4, "answer": 4},
    ]
    assert TASK.make_idx(keys.slice(0, 0)).to_pylist() == []


def test_superglue_line_nests_the_answer_in_its_question():
    record = {**_fields(), "idx": {"paragraph": 3, "question": 7, "answer": 12}, "label": 1}
    line = TASK.to_superglue(record)
    assert line == {
        "idx": 3,
        "version": 1.1,
        "passage": {
            "text": PARAGRAPH,
            "questions": [
                {"question": record["question"], "answers": [{"text": "240 members", "idx": 12, "label": 1}], "idx": 7}
            ],
        },
    }
    assert _hf_rows(line) == [{k: record[k] for k in TASK.record_schema.names}]
