"""The run directory: every stage writes Parquet part files here as its rows complete."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

STAGE_DIRS = {
    "contexts": "01_contexts",
    "seeds": "02_seeds",
    "generate": "03_generated",
    "correct": "04_corrected",
}


class RunDir:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    def prepare(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / ".write-test"
            probe.write_text("")
            probe.unlink()
        except OSError as e:
            raise OSError(f"run directory {self.root} is not writable ({e.strerror})") from None

    def stage_dir(self, stage: str) -> Path:
        return self.root / STAGE_DIRS.get(stage, stage)

    def write_part(self, where: str, tag: str, table: pa.Table) -> None:
        """Append one part; part names are unique per (tag, number) so parts are never overwritten."""
        if table.num_rows == 0:
            return
        folder = self.root / where
        folder.mkdir(parents=True, exist_ok=True)
        n = sum(1 for _ in folder.glob(f"{tag}-part-*.parquet"))
        pq.write_table(table, folder / f"{tag}-part-{n:05d}.parquet")

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
