"""Analysis: each metric on tiny hand-made inputs with values worked out by hand, then `targen run` writing
the report of a real run, `targen analyze --reference` side by side, metrics.json against its schema, and
report.html rendered by a real headless Chromium."""

from __future__ import annotations

import json
import shutil
import subprocess

import jsonschema
import numpy as np
import polars as pl
import pytest
from conftest import BOOLQ
from PIL import Image

from analysis import difficulty, entities, labels, lexical, semantic
from analysis.analyze import schema
from analysis.dataset import from_file
from targen_ray.engine.store import RunDir
from targen_ray.engine.tasks import get_task
from targen_ray.errors import SpecError
from targen_ray.interface.cli import main


def test_distinct_n_by_hand():
    # words: [a b a b] [a b c] -> 7 unigrams of 3 kinds; bigrams ab ba ab | ab bc (none across the two
    # values) -> 5 of 3 kinds; trigrams aba bab | abc -> 3 of 3 kinds.
    frame = pl.LazyFrame({"f": ["A b, a B!", "a b c"]})
    h, value = lexical.words(frame, ["f"])
    assert [lexical.distinct(h, value, n) for n in (1, 2, 3)] == [3 / 7, 3 / 5, 1.0]
    metrics, lengths = lexical.metrics(frame, ["f"])
    assert (metrics["words"], metrics["vocabulary"]) == (7, 3)
    assert lengths["f"].tolist() == [4, 3]


def test_mattr_by_hand_and_against_every_window():
    h = np.array([1, 2, 1, 3], np.uint64)  # a b a c
    assert lexical.mattr(h, 2) == 1.0  # ab ba ac: 2 types of 2 each
    assert lexical.mattr(h, 3) == pytest.approx((2 / 3 + 3 / 3) / 2)  # aba, bac
    assert lexical.mattr(h, 10) == 3 / 4  # shorter than the window: plain TTR
    words = np.random.default_rng(0).integers(0, 30, 2000).astype(np.uint64)
    naive = np.mean([len(set(words[s : s + 50].tolist())) / 50 for s in range(len(words) - 49)])
    assert lexical.mattr(words, 50) == pytest.approx(naive)


def test_mattr_at_scale_counts_windows_within_chunks(monkeypatch):
    monkeypatch.setattr(lexical, "MATTR_CHUNK", 1000)
    words = np.random.default_rng(2).integers(0, 30, 2000).astype(np.uint64)
    inside = [s for c in (0, 1000) for s in range(c, c + 951)]  # no window straddles the two chunks
    naive = np.mean([len(set(words[s : s + 50].tolist())) / 50 for s in inside])
    assert lexical.mattr(words, 50) == pytest.approx(naive)


def test_mean_cosine_and_vendi_of_identical_orthogonal_and_random_vectors():
    same = np.tile([[0.6, 0.8, 0.0]], (5, 1))
    assert semantic.mean_cosine(same) == pytest.approx(1.0)
    assert semantic.vendi(same) == pytest.approx(1.0)
    orthogonal = np.eye(8)
    assert semantic.mean_cosine(orthogonal) == pytest.approx(0.0)
    assert semantic.vendi(orthogonal) == pytest.approx(8.0)
    x = semantic.unit(np.random.default_rng(1).normal(size=(300, 16)))
    k = x @ x.T
    assert semantic.mean_cosine(x) == pytest.approx((k.sum() - 300) / (300 * 299))
    eig = np.clip(np.linalg.eigvalsh(k / 300), 1e-15, None)  # the N x N definition
    assert semantic.vendi(x) == pytest.approx(np.exp(-(eig * np.log(eig)).sum()), rel=1e-6)


def test_pvi_of_a_predictable_label_approaches_one_bit_and_of_a_random_label_zero():
    rng = np.random.default_rng(0)
    filler = "the a of to in and is was for on with as by at from".split()
    label = np.arange(100) % 2
    texts = [" ".join(rng.choice(filler, 8)) + (" alpha" if y else " beta") for y in label]
    # Balanced binary labels: g∅(y) = 1/2, so PVI = 1 + log2 g′[x](y) ≤ 1 bit, and 1 when g′ is certain.
    assert 0.75 < difficulty.pvi(texts, label).mean() <= 1.0
    assert abs(difficulty.pvi(texts, rng.integers(0, 2, 100)).mean()) < 0.1  # x says nothing about y


def test_confusion_flip_rate_and_labels_per_split():
    assert labels.confusion(np.array([0, 0, 1, 1, 1]), np.array([0, 1, 1, 1, 0]), 2) == [[1, 1], [1, 2]]
    frame = pl.DataFrame({"split": ["train", "train", "test"], "label": [1, None, 0]})
    assert labels.per_split(frame.lazy(), ["no", "yes"]) == {"test": {"no": 1}, "train": {"yes": 1, "unlabelled": 1}}


def test_entity_rules():
    text = (
        "The Acme Corporation opened in Paris and London on March 3, 1921, led by Jean de Vries. "
        "Later the Bank of England paid $4.5 million for 12 percent of its 300 shares. Yes."
    )
    assert entities.mentions(text) == [
        ("NAME", "Acme Corporation"),
        ("NAME", "Paris"),
        ("NAME", "London"),
        ("DATE", "March 3, 1921"),
        ("NAME", "Jean de Vries"),
        ("NAME", "Bank of England"),
        ("MONEY", "$4.5 million"),
        ("PERCENT", "12 percent"),
        ("CARDINAL", "300"),
    ]


def test_reference_file_errors_name_file_row_and_field(tmp_path):
    task = get_task("boolq")
    bad = tmp_path / "val.jsonl"
    bad.write_text(json.dumps({"question": "q", "passage": "p", "label": True}) + "\n" + json.dumps({"question": "q"}))
    with pytest.raises(SpecError, match=r"val.jsonl: row 2: no field 'passage'"):
        from_file(bad, task)
    bad.write_text(json.dumps({"question": "q", "passage": "p", "label": "maybe"}))
    with pytest.raises(SpecError, match=r"val.jsonl: row 1: label 'maybe'"):
        from_file(bad, task)


@pytest.mark.slow  # a real run, its report rendered in Chromium
def test_run_writes_a_report_and_analyze_compares_with_a_reference(ray_session, fake, tmp_path, capsys):
    run_dir = tmp_path / "run"
    argv = [
        "run",
        str(BOOLQ),
        "--endpoints",
        str(fake.endpoints()),
        "--limit",
        "120",
        "--run-dir",
        str(run_dir),
        "--in-driver",
    ]
    assert main(argv) == 0
    assert f"report: {run_dir}/report/report.html" in capsys.readouterr().out
    own = json.loads((run_dir / RunDir.report() / "metrics.json").read_text())
    jsonschema.validate(own, schema())
    syn = own["datasets"]["synthetic"]
    summary = json.loads((run_dir / RunDir.summary_file()).read_text())
    assert own["counts"] == summary["rows"] and own["cost"]["ledger"] == summary["ledger"]
    assert syn["rows"] == 120 and syn["semantic"]["available"] and syn["difficulty"]["available"]
    assert own["self_correction"]["rows"] == summary["stages"]["correct"]["kept"]
    assert 0 < own["self_correction"]["flip_rate"] < 1  # the fake plants 20% wrong labels

    # The run's own validation split in the original SuperGLUE JSONL (labels as booleans) as the reference.
    assert main(["export", str(run_dir)]) == 0
    out = tmp_path / "side-by-side"
    assert (
        main(
            ["analyze", str(run_dir), "--reference", str(run_dir / RunDir.superglue() / "val.jsonl"), "--out", str(out)]
        )
        == 0
    )
    metrics = json.loads((out / "metrics.json").read_text())
    jsonschema.validate(metrics, schema())
    ref = metrics["datasets"]["reference"]
    validation = summary["splits"]["validation"]
    assert ref["rows"] == metrics["equal_size"]["rows"] == validation["rows"]
    assert ref["labels"] == {"val": {"False": validation["labels"]["no"], "True": validation["labels"]["yes"]}}
    assert metrics["equal_size"]["reference"]["vendi"] > 1 and metrics["equal_size"]["synthetic"]["vendi"] > 1
    broken = {**metrics, "datasets": {"synthetic": {k: v for k, v in syn.items() if k != "lexical"}}}
    with pytest.raises(jsonschema.ValidationError):  # the schema is not vacuous
        jsonschema.validate(broken, schema())

    html = (out / "report.html").read_text()
    assert "<script" not in html and 'src="http' not in html and 'href="http' not in html  # offline, one file
    assert html.count('src="data:image/png;base64,') == len(list((out / "plots").glob("*.png")))
    _screenshot_is_not_blank(out / "report.html", tmp_path / "report.png")


def _screenshot_is_not_blank(html, png) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "headless Chromium is needed (Debian package chromium; `make test` installs it)"
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1100,2400",
            f"--screenshot={png}",
            html.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    pixels = np.asarray(Image.open(png).convert("RGB"))
    assert pixels.shape[:2] == (2400, 1100)
    ink = (pixels < 200).any(axis=2).mean()  # text, tables and plots against the white page
    assert ink > 0.02 and len(np.unique(pixels.reshape(-1, 3), axis=0)) > 100
