"""The run directory, the only state of a run: every stage appends Parquet parts here as rows complete.

Running the same job on the same directory again continues it: `run.json` says which job made it,
and a stage sends only the rows whose ids none of its parts (kept or rejected) hold yet.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

RUN_FILE = "run.json"


class RunDirError(Exception):
    """The run directory cannot be used for this job; the message is one line."""


STAGE_DIRS = {
    "contexts": "01_contexts",
    "seeds": "02_seeds",
    "generate": "03_generated",
    "correct": "04_corrected",
}


class RunDir:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    def claim(self, identity: dict) -> bool:
        """Make this directory the run of `identity` (job name, spec hash, limit); True if it resumes one.

        A directory made by another job spec, or holding files that are not a run, is refused.
        """
        marker = self.root / RUN_FILE
        if marker.exists():
            found = json.loads(marker.read_text())
            if found != identity:
                diff = ", ".join(f"{k} {found.get(k)!r} -> {v!r}" for k, v in identity.items() if found.get(k) != v)
                raise RunDirError(f"{self.root} holds a run of a different job ({diff}); use a new --run-dir")
            return True
        if self.root.exists() and any(self.root.iterdir()):
            raise RunDirError(f"{self.root} holds files that are not a targen run; use a new --run-dir")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self.write_json(RUN_FILE, identity)
        except OSError as e:
            raise RunDirError(f"run directory {self.root} is not writable ({e.strerror})") from None
        return False

    def stage_dir(self, stage: str) -> Path:
        return self.root / STAGE_DIRS.get(stage, stage)

    def write_part(self, where: str, tag: str, table: pa.Table) -> None:
        """Append one part. Written under a temporary name and renamed, so a crash never leaves a
        truncated part; numbered per tag, so parts are never overwritten."""
        if table.num_rows == 0:
            return
        folder = self.root / where
        folder.mkdir(parents=True, exist_ok=True)
        n = sum(1 for _ in folder.glob(f"{tag}-part-*.parquet"))
        tmp = folder / f".{tag}-part-{n:05d}.parquet.tmp"
        pq.write_table(table, tmp)
        tmp.replace(folder / f"{tag}-part-{n:05d}.parquet")

    def replace(self, where: str, parts: dict[str, pa.Table]) -> None:
        """Swap a whole folder (final/, surplus/) for new content: written aside, then renamed in."""
        target, fresh = self.root / where, self.root / f".{where.replace('/', '_')}.new"
        shutil.rmtree(fresh, ignore_errors=True)
        for sub, table in parts.items():
            (fresh / sub).mkdir(parents=True, exist_ok=True)
            pq.write_table(table, fresh / sub / "all-part-00000.parquet")
        shutil.rmtree(target, ignore_errors=True)
        if parts:
            fresh.replace(target)

    def done_ids(self, step: str) -> pa.Array:
        """Ids of the rows a step already answered, kept or rejected."""
        ids = []
        for folder in (self.stage_dir(step), self.root / "rejects" / step):
            ids += [pq.read_table(p, columns=["id"])["id"] for p in sorted(folder.glob("*-part-*.parquet"))]
        return pa.chunked_array(ids, pa.string()).combine_chunks() if ids else pa.array([], pa.string())

    def read(self, where: str, tag: str = "") -> pa.Table | None:
        """All parts of a stage (or only those written under `tag`), or None if there are none."""
        folder = self.root / where
        parts = sorted(folder.glob(f"{tag}*-part-*.parquet")) if folder.is_dir() else []
        if not parts:
            return None
        return pa.concat_tables([pq.read_table(p) for p in parts], promote_options="default")

    def write_json(self, name: str, data: dict) -> None:
        tmp = self.root / f".{name}.tmp"
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
        tmp.replace(self.root / name)
