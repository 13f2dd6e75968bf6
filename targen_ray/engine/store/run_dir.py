"""The run directory, the only state of a run: every stage appends Parquet parts here as rows complete.

A run directory is a local path or an object-store URI (`s3://bucket/prefix`, through pyarrow's
filesystems). Running the same job on the same directory again continues it: `run.json` says which
job made it, and a stage sends only the rows whose ids none of its parts (kept, rejected or
superseded) hold yet.

Every file appears whole or not at all (files.py); a crash half-way through a compaction is finished
or undone when the directory is opened again (parts.py).
"""

from __future__ import annotations

import hashlib
import time

from ...errors import RunDirError
from .layout import RUN_FILE
from .parts import Parts


class RunDir(Parts):
    """A run's directory: its files, their layout, its parts, and which run it is."""

    # -- identity ------------------------------------------------------------------------------------
    def claim(self, identity: dict, files: dict | None = None, redo: list[str] = ()) -> str:
        """Make this directory the run of `identity` (job, spec and prompt hashes, limit).

        Returns "new", "resume", or "redo" when the identity changed and the stages in `redo` (and
        every later one) were superseded: moved to superseded/ before the new identity is written, so
        a crash half-way leaves the old run, and the same command finishes the move. Without `redo` a
        changed identity is refused, and so is a directory holding files that are not a run.
        """
        try:
            found = self.read_json(RUN_FILE)
            if found is None and self.files(""):
                raise RunDirError(f"{self} holds files that are not a targen run; use a new --run-dir")
            same = found is not None and all(found.get(k) == v for k, v in identity.items())
            if found is not None and not same:
                if not redo:
                    diff = ", ".join(f"{k} {found.get(k)!r} -> {v!r}" for k, v in identity.items() if found.get(k) != v)
                    raise RunDirError(
                        f"{self} holds a run of a different job ({diff}); use a new --run-dir, "
                        "or --force STAGES to redo stages with the new one"
                    )
                self._supersede(redo, stamp())
            if not same or (files and found.get("files") != files):
                self.fs.create_dir(self.path, recursive=True)
                self.write_json(RUN_FILE, {**identity, "files": files or {}})
            self._recover()
        except OSError as e:
            raise RunDirError(f"run directory {self} is not usable: {_reason(e)}") from None
        return "new" if found is None else "resume" if same else "redo"

    def _supersede(self, stages: list[str], when: str) -> None:
        """Move what `stages` wrote (kept, rejected, retried) aside: it stays in the cost ledger but no
        longer counts as done, so those stages are sent again."""
        for stage in stages:  # with its batch records: the runner cancels batches still in flight (old job)
            kept = (self.stage_dir(stage), self.rejects(stage), self.retried(stage), self.batch_records(stage))
            for where in kept:
                self.move(where, self.superseded(stage), f"{when}-{where.replace('/', '-')}")
        if stages:  # stage 5's features describe rows that are now being made again; they cost nothing
            self.delete(self.files(self.embeddings(), recursive=True))

    def final_digest(self, salt: str = "") -> str:
        """sha256 of the final splits' files (names and bytes) after `salt`: what the dataset is made of,
        so that what was measured or published of it can tell whether it is still the same."""
        h = hashlib.sha256(salt.encode())
        for path in self.files(self.final(), recursive=True):
            h.update(path.rsplit(f"/{self.final()}/", 1)[-1].encode())
            with self.fs.open_input_stream(path) as f:
                while chunk := f.read(2**22):
                    h.update(chunk)
        return h.hexdigest()


def stamp() -> str:
    """A prefix for one move's files (`RunDir.move`), unique to it and in time order: two runs within a
    second each move a part their fresh numbering named the same (r0-part-00000), and a second's
    resolution let the later move overwrite the earlier one's, paid for."""
    return f"{time.strftime('%Y%m%dT%H%M%S')}{time.time_ns() % 10**9:09d}"


def _reason(e: OSError) -> str:
    return e.strerror or str(e).splitlines()[0]
