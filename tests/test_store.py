"""The run directory's own guarantees, on a local path: atomic parts, compaction that a crash cannot
half-do, moves that keep everything."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from targen_ray.engine.store import RUN_FILE, RunDir, files
from targen_ray.errors import RunDirError

IDENTITY = {"job": "j", "spec_hash": "h1", "prompts_hash": "p1", "limit": None}


def _run(tmp_path, parts: int = 5) -> RunDir:
    run = RunDir(tmp_path / "run")
    run.claim(IDENTITY)
    for i in range(parts):
        run.write_part(RunDir.stage_dir("generate"), "r0", pa.table({"id": [f"{i}a", f"{i}b"], "x": [i, i]}))
    return run


def _ids(run: RunDir) -> list[str]:
    return sorted(run.read(RunDir.stage_dir("generate"))["id"].to_pylist())


def test_compaction_merges_a_finished_stage(tmp_path):
    run = _run(tmp_path)
    run.write_part(RunDir.stage_dir("generate"), "r1", pa.table({"id": ["z"], "x": [9]}))
    before = _ids(run)
    run.compact(RunDir.stage_dir("generate"), "r0")
    assert [p.rsplit("/", 1)[1] for p in run.parts(RunDir.stage_dir("generate"))] == [
        "r0-part-00005.parquet",
        "r1-part-00000.parquet",
    ]
    assert _ids(run) == before and sorted(run.done_ids("generate").to_pylist()) == before


def test_a_large_part_is_written_and_compacted_in_bounded_row_groups(tmp_path, monkeypatch):
    """Readers go a row group at a time, so a part as large as a batch's results is not one group."""
    monkeypatch.setattr(files, "ROW_GROUP_BYTES", 4_000)
    run = RunDir(tmp_path / "run")
    run.claim(IDENTITY)
    for i in range(2):
        run.write_part(
            RunDir.stage_dir("generate"),
            "r0",
            pa.table({"id": [f"{i}-{n}" for n in range(100)], "x": ["y" * 200] * 100}),
        )
    before = _ids(run)

    def groups(path: str) -> list[int]:
        meta = pq.read_metadata(path)
        return [meta.row_group(g).total_byte_size for g in range(meta.num_row_groups)]

    assert all(len(groups(p)) >= 5 for p in run.parts(RunDir.stage_dir("generate")))  # ~21 KB each
    run.compact(RunDir.stage_dir("generate"), "r0")
    [merged] = run.parts(RunDir.stage_dir("generate"))
    assert len(groups(merged)) >= 5 and max(groups(merged)) < 3 * 4_000
    assert _ids(run) == before


@pytest.mark.parametrize("done", [False, True])
def test_an_interrupted_compaction_is_undone_or_finished(tmp_path, done):
    run = _run(tmp_path)
    before = _ids(run)
    old = [p.rsplit("/", 1)[1] for p in run.parts(RunDir.stage_dir("generate"))]
    # A crash after the merged file was written: before `done` its rows are there twice, after it
    # the replaced parts are partly deleted.
    run.write_part(RunDir.stage_dir("generate"), "r0", run.read(RunDir.stage_dir("generate")))
    intent = {"replaces": old, "first": 5, **({"done": True} if done else {})}
    run.write_json(RunDir.stage_dir("generate") + "/_compacting-r0.json", intent)
    if done:
        run.delete([p for p in run.parts(RunDir.stage_dir("generate"))][:2])
    reopened = RunDir(tmp_path / "run")
    assert reopened.claim(IDENTITY) == "resume"
    assert _ids(reopened) == before
    assert not (tmp_path / "run" / RunDir.stage_dir("generate") / "_compacting-r0.json").exists()


def test_identity_changes_are_refused_or_redo_later_stages(tmp_path):
    run = _run(tmp_path)
    run.write_part(RunDir.stage_dir("seeds"), "r0", pa.table({"id": ["s"]}))
    changed = {**IDENTITY, "prompts_hash": "p2"}
    with pytest.raises(RunDirError, match="prompts_hash 'p1' -> 'p2'.*--force"):
        RunDir(tmp_path / "run").claim(changed)
    assert RunDir(tmp_path / "run").claim(changed, redo=["generate", "correct"]) == "redo"
    assert run.read(RunDir.stage_dir("generate")) is None and run.read(RunDir.stage_dir("seeds")) is not None
    assert sorted(run.read(RunDir.superseded("generate"))["id"].to_pylist()) == [
        f"{i}{c}" for i in range(5) for c in "ab"
    ]
    assert json.loads((tmp_path / "run" / RUN_FILE).read_text())["prompts_hash"] == "p2"
    assert RunDir(tmp_path / "run").claim(changed, redo=["generate"]) == "resume"  # the same command again


def test_a_directory_that_is_not_a_run_or_not_writable_is_refused(tmp_path):
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(RunDirError, match="not a targen run"):
        RunDir(tmp_path / "other").claim(IDENTITY)
    # Tests run as root in CI, where permission bits do not stop writes: a path below a file does.
    (tmp_path / "a-file").write_text("")
    with pytest.raises(RunDirError, match="run directory .*a-file/run is not usable: "):
        RunDir(tmp_path / "a-file" / "run").claim(IDENTITY)


def test_two_redos_within_a_second_keep_what_each_moved_aside(tmp_path):
    """What `--force` moves to superseded/ is paid for: a second redo right after the first (a fast run)
    must not move its rows over the first one's, whose names would be the same to the second."""
    run = _run(tmp_path, parts=1)
    for n, prompts in enumerate(["p2", "p3"]):  # each a run of its own: its parts are numbered afresh
        again = RunDir(tmp_path / "run")
        assert again.claim({**IDENTITY, "prompts_hash": prompts}, redo=["generate"]) == "redo"
        again.write_part(RunDir.stage_dir("generate"), "r0", pa.table({"id": [f"again{n}"], "x": [n]}))
    assert sorted(run.read(RunDir.superseded("generate"))["id"].to_pylist()) == ["0a", "0b", "again0"]
