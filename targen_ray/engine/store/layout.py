"""The layout of a run directory: every folder and file of a run is named here, and nowhere else."""

from __future__ import annotations

import posixpath

from ...config import JUDGE_MARK, judge_of
from .files import Files

RUN_FILE = "run.json"

STAGE_DIRS = {
    "contexts": "01_contexts",
    "seeds": "02_seeds",
    "generate": "03_generated",
    "correct": "04_corrected",
    "dedup": "05_deduped",  # the rows stage 5 dropped; features it computed live in 05_embeddings
}
JUDGES_DIR = "04_judges"  # a panel judge's answers: 04_judges/<judge>/


class Layout(Files):
    @staticmethod
    def log_file() -> str:
        """Ray's and the libraries' lines of every `targen run` of this directory (terminal.py)."""
        return "logs/ray.log"

    @staticmethod
    def stage_dir(stage: str) -> str:
        """The rows a step kept (or, for "dedup", the rows stage 5 dropped; for a panel judge's stage
        `correct@NAME`, that judge's answers, which step 4's folder holds decided)."""
        judge = judge_of(stage)
        return f"{JUDGES_DIR}/{judge}" if judge else STAGE_DIRS[stage]

    def judge_stages(self) -> list[str]:
        """The panel judges' stages whose answers this run directory holds, a judge `--force` dropped
        from the panel included (its answers were paid for)."""
        return [f"correct{JUDGE_MARK}{judge}" for judge in self.folders(JUDGES_DIR)]

    def batch_stages(self) -> list[str]:
        """The stages that submitted batches to a provider in this run directory (a dropped judge's too)."""
        return self.folders(self.batch_records(""))

    @staticmethod
    def rejects(step: str) -> str:
        """The rows a step could not use, with why."""
        return f"rejects/{step}"

    @staticmethod
    def retried(step: str) -> str:
        """Rejects `targen retry-rejects` sent again (paid for, no longer done)."""
        return f"retried/{step}"

    @staticmethod
    def superseded(step: str) -> str:
        """What a step wrote before `--force` redid it (paid for, no longer done)."""
        return f"superseded/{step}"

    @staticmethod
    def paid(step: str) -> list[str]:
        """Every folder holding rows a step paid for: kept, rejected, retried, superseded."""
        return [Layout.stage_dir(step), Layout.rejects(step), Layout.retried(step), Layout.superseded(step)]

    @staticmethod
    def batch_records(step: str, round_id: str = "") -> str:
        """The records (.json) and row files of the batches a step submitted, per round."""
        return posixpath.join("batches", step, round_id) if round_id else posixpath.join("batches", step)

    @staticmethod
    def intents(stage: str, round_id: str = "", intent: str = "") -> str:
        """A stage's intent records (execute/intents.py): one file per batch of requests a worker sent."""
        folder = posixpath.join("intents", stage)
        return posixpath.join(folder, f"{round_id}-{intent}.parquet") if intent else folder

    @staticmethod
    def final(split: str = "") -> str:
        """The splits stage 6 wrote (one folder per split)."""
        return posixpath.join("final", split) if split else "final"

    @staticmethod
    def surplus() -> str:
        """Rows made beyond a quota, kept aside by stage 6."""
        return "surplus"

    @staticmethod
    def embeddings() -> str:
        """Stage 5's features per row: embedding and MinHash signature."""
        return "05_embeddings"

    @staticmethod
    def reference_vectors(key: str) -> str:
        """A reference set's embeddings, per reference content."""
        return f"05_reference/{key}"

    @staticmethod
    def review() -> str:
        """Human review: the sample's seed, reviewers' decisions (append-only), exports and the audit."""
        return "review"

    @staticmethod
    def review_seed_file() -> str:
        """The seed that fixes the review sample, drawn once per run."""
        return "review/seed.json"

    @staticmethod
    def review_decisions(reviewer: str = "") -> str:
        """A reviewer's decisions, one JSON line each (the folder: every reviewer's)."""
        return f"review/decisions/{reviewer}.jsonl" if reviewer else "review/decisions"

    @staticmethod
    def review_export(fmt: str) -> str:
        """`targen review --export`: the sample for another tool (labelstudio: its JSON import; csv)."""
        return "review/sample-labelstudio.json" if fmt == "labelstudio" else f"review/sample.{fmt}"

    @staticmethod
    def audit_file() -> str:
        """`targen audit`'s figures (audit.py), tied to the final rows by their digest."""
        return "review/audit.json"

    @staticmethod
    def panel_file() -> str:
        """The vote rule step 4's panel decided the rows under (panel.py)."""
        return "panel.json"

    @staticmethod
    def summary_file() -> str:
        """What the run made, cost and took (summary.py)."""
        return "summary.json"

    @staticmethod
    def superglue() -> str:
        """`targen export`'s folder: the final splits as SuperGLUE's JSONL files."""
        return "superglue"

    @staticmethod
    def report() -> str:
        """`targen analyze`'s folder: metrics.json, report.html and plots/."""
        return "report"

    @staticmethod
    def structured_file() -> str:
        """The structured-output modes `auto` endpoints were probed to (probe.py), and what probing cost."""
        return "structured.json"

    def superseded_batch_records(self, step: str) -> dict[str, dict]:
        """The batch records `--force` moved aside for a step (their names say where they came from)."""
        mark = f"-{self.batch_records(step).replace('/', '-')}-"  # _supersede's prefix: <when>-batches-<step>-
        return {n: r for n, r in self.records(self.superseded(step)).items() if mark in n.rsplit("/", 1)[-1]}
