"""`targen publish RUN_DIR iceberg://[CATALOG/]NAMESPACE.TABLE` and `targen verify` of such a table.

The catalog is pyiceberg's own configuration (`~/.pyiceberg.yaml`, `PYICEBERG_CATALOG__<NAME>__*`): SQL,
REST, Glue, Hive, whatever pyiceberg opens. The table holds the task's published fields and types (the
label as its class index, the int the Parquet files and Hugging Face's ClassLabel hold; the names are
in the table's properties) and a `split` column, its identity partition. Ray tasks on the cluster read
the run's final Parquet parts (a task per part) and write the table's data files through Ray Data's
Iceberg sink (what `Dataset.write_iceberg` builds); the driver commits one snapshot (overwrite: a delete
and an append in one commit) and sees only file metadata.

Every snapshot's summary carries the run's lineage (`publish.lineage`, what a folder's manifest.json
records) as `targen.*` properties, and per split the rows and their digest (row_tally.py: independent
of row order and of files, so an engine's compaction keeps it). A table's current rows are the runs of
the snapshots from the current one back to the last overwrite: publishing one of them again adds
nothing, and `targen verify` reads the rows back and checks them against those runs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import pyarrow as pa

from ..config import SPLITS
from ..errors import SpecError
from . import card
from .publish import checked, lineage
from .row_tally import ROWS, SPLIT, add, entry, row_digests
from .store import RunDir, row_groups
from .tasks import Task, recorded_task

SCHEME = "iceberg://"
MODES = ("append", "overwrite")
PREFIX = "targen."
NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")


@dataclass(frozen=True)
class Target:
    """Where `iceberg://[CATALOG/]NAMESPACE.TABLE` points (no catalog: pyiceberg's default one)."""

    uri: str
    catalog: str | None
    namespace: tuple[str, ...]
    table: str

    @property
    def identifier(self) -> str:
        return ".".join((*self.namespace, self.table))


def is_iceberg(dest: str) -> bool:
    return dest.startswith(SCHEME)


def parse(dest: str) -> Target:
    catalog, _, name = dest.removeprefix(SCHEME).rpartition("/")
    parts = name.split(".")
    if len(parts) < 2 or not all(NAME.fullmatch(p) for p in [*parts, *([catalog] if catalog else [])]):
        raise SpecError(f"{dest}: expected iceberg://[CATALOG/]NAMESPACE.TABLE (names of letters, digits, _ and -)")
    return Target(dest, catalog or None, tuple(parts[:-1]), parts[-1])


def _catalog(target: Target):
    """The catalog's name, configuration and pyiceberg catalog, the configuration read now (pyiceberg's
    own copy is read once, at its import); an unknown name or a catalog that cannot be opened is one line."""
    from pyiceberg.catalog import load_catalog
    from pyiceberg.utils.config import Config

    config = Config()
    name = target.catalog or config.get_default_catalog_name()
    conf = config.get_catalog_config(name)
    if conf is None:
        known = ", ".join(config.get_known_catalogs()) or "none"
        raise SpecError(
            f"{target.uri}: no iceberg catalog named {name!r} is configured (configured: {known}; pyiceberg reads "
            f"~/.pyiceberg.yaml and PYICEBERG_CATALOG__{name.upper()}__* variables)"
        )
    try:
        return name, conf, load_catalog(name, **conf)
    except Exception as e:  # each kind fails its own way: sqlalchemy, HTTP, boto, thrift, a bad setting
        raise SpecError(f"{target.uri}: iceberg catalog {name!r} cannot be opened: {_reason(e)}") from None


def _reason(e: Exception) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:300]


def table_schema(task: Task) -> pa.Schema:
    """The published fields and types, then `split`."""
    return card.hf_schema(task).remove_metadata().append(pa.field(SPLIT, pa.string()))


def _table_properties(task: Task) -> dict[str, str]:
    features = json.loads(card.hf_schema(task).metadata[b"huggingface"])["info"]["features"]
    return {
        f"{PREFIX}task": task.name,
        f"{PREFIX}label-names": json.dumps(list(task.label_names)),  # label i is the i-th name
        f"{PREFIX}features": json.dumps(features),  # Hugging Face Features, for `datasets.Features.from_dict`
    }


def _open(target: Target, task: Task, create_namespace: bool):
    """The table, created (partitioned by split) when it does not exist; one that holds another task's
    rows is refused, naming both sets of fields."""
    from pyiceberg.exceptions import NoSuchTableError
    from pyiceberg.io.pyarrow import schema_to_pyarrow

    name, conf, catalog = _catalog(target)
    if not catalog.namespace_exists(target.namespace):
        if not create_namespace:
            raise SpecError(
                f"{target.uri}: namespace {'.'.join(target.namespace)!r} does not exist in iceberg catalog "
                f"{name!r}; create it, or pass --create-namespace"
            )
        catalog.create_namespace_if_not_exists(target.namespace)
    schema, properties = table_schema(task), _table_properties(task)
    try:
        table = catalog.load_table(target.identifier)
    except NoSuchTableError:
        with catalog.create_table_transaction(target.identifier, schema, properties=properties) as txn:
            with txn.update_spec() as spec:
                spec.add_identity(SPLIT)
        return name, conf, catalog.load_table(target.identifier)
    held = schema_to_pyarrow(table.schema(), include_field_ids=False)
    theirs = table.properties.get(f"{PREFIX}task"), [(f.name, _plain(f.type)) for f in held]
    if theirs != (task.name, [(f.name, _plain(f.type)) for f in schema]):
        raise SpecError(
            f"{target.uri}: holds task {theirs[0]!r} ({', '.join(f.name for f in held)}), not this run's "
            f"{task.name!r} ({', '.join(schema.names)}); publish it to another table"
        )
    return name, conf, table


def _plain(type_: pa.DataType) -> str:
    """A type as both sides spell it: pyiceberg reads strings and lists back as their large kinds."""
    return str(type_).replace("large_", "").replace("element: ", "item: ")


def _read_parts(parts: pa.Table, run_uri: str, schema: pa.Schema) -> Iterator[pa.Table]:
    """In a Ray task: final parts (path and split), a row group at a time, as the table's rows: the
    task's fields in its types, then the split."""
    fs, fields = RunDir(run_uri).fs, schema.remove(schema.get_field_index(SPLIT))
    for path, split in zip(parts["path"].to_pylist(), parts[SPLIT].to_pylist(), strict=True):
        for rows in row_groups(path, fs, fields.names):
            column = pa.array([split] * rows.num_rows, pa.string())
            yield rows.cast(fields).append_column(schema.field(SPLIT), column)


def _rows(run: RunDir, task: Task, schema: pa.Schema):
    """The run's final splits as a Ray Dataset of the table's rows: a Ray task per part (stage 6 wrote
    each whole, at most a compaction's size), so that the nodes share the reading and writing even of a
    small run, which Ray Data's Parquet reader would read in one task."""
    import ray.data

    parts = [{"path": path, SPLIT: split} for split in SPLITS for path in run.parts(run.final(split))]
    ds = ray.data.from_items(parts, override_num_blocks=len(parts))
    return ds.map_batches(_read_parts, fn_kwargs={"run_uri": run.uri, "schema": schema}, batch_format="pyarrow")


def held_runs(table) -> list[dict[str, str]]:
    """The summaries of the snapshots whose rows the table holds now: targen's appends from the current
    snapshot back to the last overwrite (its own append included)."""
    runs, snapshot = [], table.current_snapshot()
    while snapshot is not None and snapshot.summary is not None:
        summary = snapshot.summary
        if summary.get(f"{PREFIX}run-id") and summary.operation.value == "append":
            runs.append(dict(summary.additional_properties))
        if summary.get(f"{PREFIX}mode") == "overwrite":
            break
        parent = snapshot.parent_snapshot_id
        snapshot = table.snapshot_by_id(parent) if parent is not None else None
    return runs


def _properties(made: dict, mode: str, run: RunDir) -> dict[str, str]:
    """The lineage as snapshot summary properties: strings, JSON where a value is not one; none empty."""
    parts = urlsplit(run.uri)  # a URI may carry credentials (s3://KEY:SECRET@bucket): never the snapshot's
    where = urlunsplit(parts._replace(netloc=parts.hostname or "")) if parts.scheme else run.uri
    values = {**made, "run_dir": where, "mode": mode}
    return {
        PREFIX + k.replace("_", "-"): v if isinstance(v, str) else json.dumps(v, sort_keys=True)
        for k, v in values.items()
        if v is not None
    }


def publish(
    run_dir: str, dest: str, mode: str = "append", create_namespace: bool = False, incomplete=False, force=False
) -> tuple[str, dict]:
    """Publish a finished run that passes its gate as a snapshot of an Iceberg table; returns
    ("published" | "unchanged", its lineage and the table's current snapshot id)."""
    from ray.data import SaveMode

    from .cluster import check_cluster, ensure_ray
    from .iceberg_sink import TalliedSink

    target = parse(dest)
    if mode not in MODES:
        raise SpecError(f"--mode: expected {' or '.join(MODES)}, got {mode!r}")
    run, recorded, summary, _, failed = checked(run_dir, incomplete, force)
    task = recorded_task(recorded)
    name, conf, table = _open(target, task, create_namespace)
    made = lineage(run, recorded, summary, failed)
    ids = [r[f"{PREFIX}run-id"] for r in held_runs(table)]
    if made["run_id"] in ids and (mode == "append" or ids == [made["run_id"]]):
        return "unchanged", {**made, "snapshot": table.current_snapshot().snapshot_id}
    sink = TalliedSink(
        target.identifier,
        catalog_kwargs={"name": name, **conf},
        snapshot_properties=_properties(made, mode, run),
        mode=SaveMode.OVERWRITE if mode == "overwrite" else SaveMode.APPEND,
        schema=table_schema(task),
    )
    check_cluster()
    ensure_ray(log_to_driver=False)
    _rows(run, task, table_schema(task)).write_datasink(sink)
    return "published", {**made, "snapshot": table.refresh().current_snapshot().snapshot_id}


def verify(dest: str) -> tuple[dict, list[str]]:
    """Read every data file of the table's current snapshot: its size and rows as the table's metadata
    says, and per split the rows and their digest as the runs it holds published them. Returns what was
    checked and the problems found (none: the table holds exactly those runs' rows)."""
    from pyiceberg.exceptions import NoSuchTableError

    target = parse(dest)
    _, _, catalog = _catalog(target)
    try:
        table = catalog.load_table(target.identifier)
    except NoSuchTableError:
        raise SpecError(f"{dest}: no such table") from None
    runs = held_runs(table)
    if not runs:
        raise SpecError(f"{dest}: no snapshot targen published holds the table's rows: nothing to check against")
    problems, tallies, files = _read_back(table)
    expected, found = add([json.loads(r[ROWS]) for r in runs]), add(tallies)
    none = entry(0, 0)
    for split in sorted(set(expected) | set(found)):
        want, got = expected.get(split, none), found.get(split, none)
        if want != got:
            problems.append(
                f"{SPLIT}={split}: {got['rows']:,} rows, digest {got['digest'][:12]}…; the runs published "
                f"{want['rows']:,}, digest {want['digest'][:12]}…"
            )
    checked_ = {"name": runs[0][f"{PREFIX}name"], "files": files, "runs": [r[f"{PREFIX}run-id"] for r in runs]}
    held = f"{len(runs)} run{'s' if len(runs) > 1 else ''}"
    return {**checked_, "against": f"{dest}: the rows of the {held} its snapshots record"}, problems


def _read_back(table) -> tuple[list[str], list[dict], list[str]]:
    """Each data file of the current snapshot, a row group at a time: problems, row digests, file names."""
    from pyiceberg.expressions import AlwaysTrue
    from pyiceberg.io.pyarrow import ArrowScan

    scan = ArrowScan(table.metadata, table.io, table.schema(), AlwaysTrue())
    problems, tallies, files = [], [], []
    for task in table.scan().plan_files():
        data = task.file
        name = data.file_path.removeprefix(table.location().rstrip("/") + "/")
        files.append(name)
        try:
            size = len(table.io.new_input(data.file_path))
            tally = add([row_digests(pa.Table.from_batches([b])) for b in scan.to_record_batches([task]) if b.num_rows])
        except Exception as e:  # a damaged file fails in pyarrow's own way (magic bytes, thrift, decoding)
            problems.append(f"{name}: unreadable: {_reason(e)}")
            continue
        rows = sum(t["rows"] for t in tally.values())
        if size != data.file_size_in_bytes:
            problems.append(f"{name}: {size:,} bytes, the table's metadata says {data.file_size_in_bytes:,}")
        if rows != data.record_count:
            problems.append(f"{name}: {rows:,} rows, the table's metadata says {data.record_count:,}")
        tallies.append(tally)
    return problems, tallies, files
