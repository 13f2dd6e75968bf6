"""Publishing into Apache Iceberg tables (real pyiceberg, a real SQLite SQL catalog configured the way
pyiceberg's users configure one, a local warehouse folder, real Ray): the rows, types, splits and label
names read back by pyiceberg and polars equal the published Parquet; every snapshot carries the run's
lineage; publishing is idempotent, appends and overwrites; `targen verify` catches a tampered data file;
bad input is one line and exit 2. The two-node write is the `slow` test at the end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import BOOLQ, FAKE_KEY, exact_dedup_only, loopback_cluster

from targen_ray.config import SPLITS
from targen_ray.engine import card
from targen_ray.engine import job as job_mod
from targen_ray.engine.runner import run
from targen_ray.engine.store import RUN_FILE, RunDir
from targen_ray.engine.tasks import get_task, recorded_task
from targen_ray.interface.api import publish, verify
from targen_ray.interface.cli import main


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    """Catalog `lake`: SQLite and a warehouse folder, by pyiceberg's environment variables; `broken`:
    a SQLite file in a folder that does not exist."""
    where = tmp_path_factory.mktemp("lake")
    env = {
        "PYICEBERG_CATALOG__LAKE__URI": f"sqlite:///{where}/catalog.db",
        "PYICEBERG_CATALOG__LAKE__WAREHOUSE": f"file://{where}/warehouse",
        "PYICEBERG_CATALOG__BROKEN__URI": f"sqlite:///{where}/no/such/folder/catalog.db",
        "POLARS_ICEBERG_PLANNER": "pyiceberg",  # no polars_iceberg plugin here: plan with pyiceberg, quietly
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    yield where
    for k, v in saved.items():
        os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)


@pytest.fixture(scope="module")
def runs(finished_boolq, finished_manual_qa, fake, tmp_path_factory):
    """Two finished BoolQ runs of one job (the session's, and one with another --limit) and a declared-task
    run (the session's manual_qa)."""
    folder = tmp_path_factory.mktemp("iceberg-runs")
    boolq2 = job_mod.load(exact_dedup_only(BOOLQ, folder), fake.endpoints())
    assert run(boolq2, str(folder / "boolq2"), limit=30, in_driver=True)["complete"]
    return {"boolq": finished_boolq, "boolq2": folder / "boolq2", "manual_qa": finished_manual_qa}


def published(run_dir) -> pa.Table:
    """The rows `targen publish` writes of a run (its final splits in the published fields and types), with
    their split."""
    task = recorded_task(RunDir(run_dir).read_json(RUN_FILE))
    tables = []
    for split in SPLITS:
        part = pq.read_table(run_dir / RunDir.final(split), columns=task.record_schema.names)
        part = part.cast(card.hf_schema(task)).replace_schema_metadata(None)
        tables.append(part.append_column("split", pa.array([split] * part.num_rows)))
    return pa.concat_tables(tables)


def as_rows(table: pa.Table) -> list[str]:
    return sorted(json.dumps(r, sort_keys=True) for r in table.to_pylist())


def load(name: str):
    from pyiceberg.catalog import load_catalog

    return load_catalog("lake").load_table(name)


def test_two_tasks_read_back_by_pyiceberg_and_polars_with_lineage(lake, runs):
    for name, run_dir, labels in (("boolq", runs["boolq"], ["False", "True"]), ("manual_qa", runs["manual_qa"], None)):
        state, made = publish(str(run_dir), f"iceberg://lake/tasks.{name}", create_namespace=True)
        assert state == "published"
        table, expected = load(f"tasks.{name}"), published(run_dir)
        got = table.scan().to_arrow()
        assert got.column_names == expected.column_names and as_rows(got) == as_rows(expected)
        assert all(g.type == e.type for g, e in zip(got.schema, expected.schema, strict=True))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            frame = pl.scan_iceberg(table).collect()
        assert frame.schema == pl.from_arrow(expected).schema and frame.height == expected.num_rows
        summary = json.loads((run_dir / RunDir.summary_file()).read_text())
        assert frame.group_by("split").len().sort("split").rows() == sorted(
            (s, v["rows"]) for s, v in summary["splits"].items()
        )
        assert [f.name for f in table.spec().fields] == ["split"]
        names = json.loads(table.properties["targen.label-names"])
        assert table.properties["targen.task"] == name and (labels is None or names == labels)

        (snapshot,) = table.snapshots()
        props = snapshot.summary.additional_properties
        assert props["targen.run-id"] == made["run_id"] == RunDir(run_dir).final_digest()
        assert props["targen.name"] == summary["job"] and props["targen.spec-hash"] == summary["spec_hash"]
        assert len(props["targen.task-hash"]) == 16 and props["targen.version"]
        assert json.loads(props["targen.prompts"]).keys() == {"contexts", "seeds", "generate", "correct"}
        assert json.loads(props["targen.steps"])["correct"] == ["judge"]
        assert json.loads(props["targen.endpoints"])["judge"] == {"provider": "anthropic", "model": "fake-judge"}
        assert props["targen.generated-from"] <= props["targen.generated-at"]
        assert json.loads(props["targen.labels"]) == {s: v["labels"] for s, v in summary["splits"].items()}
        assert json.loads(props["targen.gate"]) == {"verdict": "passed", "overridden": []}
        assert "targen.audit" not in props  # no audit of these rows
        assert all(FAKE_KEY not in v and "FAKE_API_KEY" not in v for v in props.values())


def test_same_run_adds_nothing_another_appends_overwrite_replaces(lake, runs, capsys):
    dest = "iceberg://lake/history.boolq"
    first, second = runs["boolq"], runs["boolq2"]
    assert main(["publish", str(first), dest, "--create-namespace"]) == 0
    assert main(["publish", str(first), dest]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith(f"unchanged: {dest}")
    assert len(load("history.boolq").snapshots()) == 1

    assert publish(str(second), dest)[0] == "published"  # another run of the job: one more snapshot
    table = load("history.boolq")
    assert len(table.snapshots()) == 2
    assert as_rows(table.scan().to_arrow()) == as_rows(pa.concat_tables([published(first), published(second)]))
    assert verify(dest)[1] == []

    assert publish(str(second), dest, mode="overwrite")[0] == "published"
    table = load("history.boolq")
    assert as_rows(table.scan().to_arrow()) == as_rows(published(second))
    assert publish(str(second), dest, mode="overwrite")[0] == "unchanged"
    assert len(load("history.boolq").snapshots()) == len(table.snapshots())
    runs_ = [s.summary.get("targen.run-id") for s in table.snapshots()]
    assert runs_[:2] == [RunDir(first).final_digest(), RunDir(second).final_digest()]
    assert main(["verify", dest]) == 0
    assert f"match {dest}: the rows of the 1 run its snapshots record" in capsys.readouterr().out


def test_verify_catches_a_tampered_data_file(lake, runs, capsys):
    dest = "iceberg://lake/tampered.boolq"
    publish(str(runs["boolq"]), dest, create_namespace=True)
    table = load("tampered.boolq")
    path = next(t.file.file_path for t in table.scan().plan_files() if t.file.partition[0] == "train")
    local = path.removeprefix("file://")
    rows = pq.read_table(local)
    question = rows["question"].to_pylist()
    question[0] = question[0] + " (edited)"
    pq.write_table(rows.set_column(0, rows.schema.field(0), pa.array(question, rows.schema.field(0).type)), local)
    assert main(["verify", dest]) == 1
    err = capsys.readouterr().err
    assert "split=train: " in err and "the runs published" in err
    assert f"{path.rsplit('/', 1)[-1]}: " in err and "the table's metadata says" in err


def test_bad_input_is_one_line_and_exit_2(lake, runs, capsys):
    boolq, qa = str(runs["boolq"]), str(runs["manual_qa"])
    publish(boolq, "iceberg://lake/refuse.boolq", create_namespace=True)
    cases = [
        ([boolq, "iceberg://nowhere/ns.table"], "no iceberg catalog named 'nowhere' is configured"),
        ([boolq, "iceberg://broken/ns.table"], "iceberg catalog 'broken' cannot be opened"),
        ([boolq, "iceberg://lake/just_a_table"], "expected iceberg://[CATALOG/]NAMESPACE.TABLE"),
        ([boolq, "iceberg://lake/ns.bad name"], "expected iceberg://[CATALOG/]NAMESPACE.TABLE"),
        ([boolq, "iceberg://lake/missing.boolq"], "namespace 'missing' does not exist"),
        ([qa, "iceberg://lake/refuse.boolq"], "holds task 'boolq' (question, passage, idx, label, split)"),
        ([boolq, "iceberg://lake/refuse.boolq", "--superglue"], "--superglue: not for iceberg://"),
        ([boolq, str(lake / "folder"), "--mode", "overwrite"], "--mode: only for iceberg://"),
    ]
    for args, message in cases:
        assert main(["publish", *args]) == 2, args
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("targen: error: ") and message in err[0], (args, err)
    assert main(["verify", "iceberg://lake/refuse.nothing"]) == 2
    assert "no such table" in capsys.readouterr().err
    assert len(load("refuse.boolq").snapshots()) == 1 and "manual_qa" not in str(load("refuse.boolq").schema())


@pytest.mark.slow  # a two-node cluster and a publish as its own driver
def test_the_rows_are_written_by_ray_tasks_on_both_nodes(lake, finished_boolq, tmp_path):
    # Which node wrote each data file: the sink's write() observed by a subclass defined in the driver's
    # __main__ (so it travels to the workers by value).
    script = f"""
import sys
from targen_ray.engine import iceberg_sink

class Recorded(iceberg_sink.TalliedSink):
    def write(self, blocks, ctx):
        import ray
        result = super().write(blocks, ctx)
        with open({str(tmp_path / "writers.txt")!r}, "a") as f:
            for data in result.data_files:
                f.write(ray.get_runtime_context().get_node_id() + " " + data.file_path + "\\n")
        return result

iceberg_sink.TalliedSink = Recorded
from targen_ray.interface.cli import main
sys.exit(main(["publish", {str(finished_boolq)!r}, "iceberg://lake/cluster.boolq", "--create-namespace"]))
"""
    with loopback_cluster(nodes=2, cpus=1) as (_, env):  # the head has no CPU: tasks run on the two nodes
        done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    writers = dict(reversed(line.split()) for line in (tmp_path / "writers.txt").read_text().splitlines())
    files = {t.file.file_path for t in load("cluster.boolq").scan().plan_files()}
    assert set(writers) == files and len(set(writers.values())) == 2, writers
    assert verify("iceberg://lake/cluster.boolq")[1] == []
    assert get_task("boolq").record_schema.names == load("cluster.boolq").schema().column_names[:-1]
