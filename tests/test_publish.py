"""Publishing a finished run to a local path (object storage: test_s3.py): the Hugging Face layout read
back by polars and pyarrow, the dataset card, the manifest as the commit point, idempotence,
--overwrite, and `targen verify` catching every kind of damage."""

from __future__ import annotations

import json
import shutil

import datasets
import polars as pl
import pyarrow.parquet as pq
import pytest
import yaml
from conftest import FAKE_KEY

from targen_ray.config import SPLITS
from targen_ray.engine.publish import publish, verify
from targen_ray.engine.store import RunDir
from targen_ray.engine.tasks import get_task
from targen_ray.errors import SpecError
from targen_ray.interface.cli import main


@pytest.fixture(scope="module")
def finished(finished_boolq):
    return finished_boolq, json.loads((finished_boolq / RunDir.summary_file()).read_text())


def test_published_dataset_reads_back_with_its_card_and_manifest(finished, tmp_path):
    run_dir, summary = finished
    dest = tmp_path / "boolq"
    state, manifest = publish(str(run_dir), str(dest))
    assert state == "published"
    schema = get_task("boolq").record_schema
    data = []
    for split in SPLITS:
        files = sorted(dest.glob(f"data/{split}-*.parquet"))
        n = len(list((run_dir / RunDir.final(split)).glob("*.parquet")))
        assert [f.name for f in files] == [f"{split}-{k:05d}-of-{n:05d}.parquet" for k in range(n)]
        assert all(pq.read_table(f).schema.remove_metadata() == schema for f in files)
        frame = pl.read_parquet(dest / "data" / f"{split}-*.parquet")
        assert frame.columns == schema.names and frame.height == summary["splits"][split]["rows"]
        assert sorted(frame["idx"]) == list(range(frame.height))
        data += [f"data/{f.name}" for f in files]

    listed = {e["path"]: e for e in manifest["files"]}
    assert set(listed) == {"README.md", *data}
    assert all(listed[p]["rows"] == pq.read_metadata(dest / p).num_rows for p in data)
    assert manifest["splits"] == {s: v["rows"] for s, v in summary["splits"].items()}
    assert manifest["cost"]["usd"] == summary["usd"] and manifest["spec_hash"] == summary["spec_hash"]
    assert manifest["endpoints"] == {
        "writer": {"provider": "openai", "model": "fake-writer"},
        "judge": {"provider": "anthropic", "model": "fake-judge"},
    }
    assert set(manifest["prompts"]) == {"contexts", "seeds", "generate", "correct"}
    assert manifest["packages"]["ray"] and manifest["published_at"] and manifest["generated_at"]
    assert json.loads((dest / "manifest.json").read_text()) == manifest

    text = (dest / "README.md").read_text()
    front = yaml.safe_load(text.split("---\n")[1])
    assert front["license"] == "other" and front["size_categories"] == ["n<1K"]
    assert front["configs"][0]["data_files"] == [{"split": s, "path": f"data/{s}-*"} for s in SPLITS]
    info = front["dataset_info"]
    assert [f["name"] for f in info["features"]] == schema.names
    assert info["features"][-1]["dtype"] == {"class_label": {"names": {"0": "False", "1": "True"}}}
    assert {s["name"]: s["num_examples"] for s in info["splits"]} == manifest["splits"]
    assert "it is not SuperGLUE" in text and "## Analysis" in text and "## Limitations" in text

    # The Hugging Face loader reads the layout and takes the features, class names included, from the card.
    loaded = datasets.load_dataset(str(dest), cache_dir=str(tmp_path / "hf-cache"))
    assert {s: len(loaded[s]) for s in SPLITS} == manifest["splits"]
    assert loaded["train"].features["label"].names == ["False", "True"]
    assert loaded["train"].features["idx"].dtype == "int32"

    for path in dest.rglob("*"):  # keys never leave the machine they are on, nor their variable's name
        assert path.is_dir() or (
            FAKE_KEY.encode() not in path.read_bytes() and b"FAKE_API_KEY" not in path.read_bytes()
        )


def test_republishing_is_idempotent_and_replacing_needs_overwrite(finished, tmp_path, capsys):
    run_dir, _ = finished
    dest = tmp_path / "boolq"
    _, first = publish(str(run_dir), str(dest))
    stamps = {p: p.stat().st_mtime_ns for p in dest.rglob("*")}
    assert publish(str(run_dir), str(dest)) == ("unchanged", first)
    assert {p: p.stat().st_mtime_ns for p in dest.rglob("*")} == stamps

    # With the SuperGLUE files it is another dataset: refused over the first without --overwrite.
    assert main(["publish", str(run_dir), str(dest), "--superglue"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "holds another dataset" in err[0] and "--overwrite" in err[0]
    assert main(["publish", str(run_dir), str(dest), "--superglue", "--overwrite"]) == 0
    assert (dest / "superglue" / "val.jsonl").exists()
    assert main(["verify", str(dest)]) == 0
    files = json.loads((dest / "manifest.json").read_text())["files"]
    assert f"ok: {len(files)} files" in capsys.readouterr().out


def test_a_publish_cut_short_is_not_a_dataset_until_it_is_run_again(finished, tmp_path):
    run_dir, _ = finished
    dest = tmp_path / "boolq"
    publish(str(run_dir), str(dest))
    (dest / "manifest.json").unlink()  # what a crash before the commit point leaves
    with pytest.raises(SpecError, match="no manifest.json"):
        verify(str(dest))
    assert publish(str(run_dir), str(dest))[0] == "published"
    assert verify(str(dest))[1] == []

    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(SpecError, match="not a published dataset"):
        publish(str(run_dir), str(tmp_path / "other"))


def test_verify_names_every_damaged_missing_or_unlisted_file(finished, tmp_path, capsys):
    run_dir, _ = finished
    dest = tmp_path / "boolq"
    publish(str(run_dir), str(dest))
    train, test = (next(dest.glob(f"data/{s}-00000-*.parquet")) for s in ("train", "test"))
    with train.open("ab") as f:
        f.write(b"x")
    test.unlink()
    shutil.copy(dest / "README.md", dest / "data" / "extra-00000-of-00001.parquet")
    assert main(["verify", str(dest)]) == 1
    err = capsys.readouterr().err
    assert f"{train.name}: sha256" in err
    assert f"{test.name}: missing" in err
    assert "extra-00000-of-00001.parquet: not in the manifest" in err


def test_an_unfinished_run_is_not_published(finished, tmp_path):
    run_dir, _ = finished
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    summary = json.loads((copy / RunDir.summary_file()).read_text())
    summary["complete"] = False
    (copy / RunDir.summary_file()).write_text(json.dumps(summary))
    with pytest.raises(SpecError, match="not complete"):
        publish(str(copy), str(tmp_path / "dest"))
    assert not (tmp_path / "dest").exists()
