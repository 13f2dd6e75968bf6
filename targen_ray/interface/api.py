"""The library behind every `targen` command, for Python callers and for the CLI, which only parses
arguments, calls these and prints. Inputs are checked here, so a bad one is the same SpecError line
from either door.

    from targen_ray.interface import api
    summary = api.run("jobs/boolq.yaml", limit=40)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from ..engine import job as job_mod
from ..engine.job import Job
from ..engine.store import RUN_FILE, RunDir
from ..errors import SpecError

RETRYABLE = ("generate", "correct")  # the steps whose rejects `retry-rejects` sends again


@dataclass(frozen=True)
class Planned:
    """A run, checked and ready: `execute` starts it, or continues the one already in `run_dir`."""

    job: Job
    run_dir: str
    limit: int | None = None
    force: tuple[str, ...] = ()
    files: dict = field(default_factory=dict)
    retry: tuple[str, ...] = ()  # the steps whose rejects are sent again (retry-rejects)
    in_driver: bool = False  # online steps send from the driver, not Ray Data's actors (small runs)

    def execute(self, log_to_driver: bool = True) -> dict:
        """The run's summary (summary.json)."""
        from ..engine import runner

        if self.retry:
            return runner.retry_rejects(
                self.job, self.run_dir, self.limit, list(self.retry), log_to_driver, self.in_driver
            )
        return runner.run(
            self.job, self.run_dir, self.limit, list(self.force), self.files, log_to_driver, self.in_driver
        )


def plan_run(
    job_file: str,
    endpoints: str | None = None,
    run_dir: str | None = None,
    limit: int | None = None,
    force=(),
    in_driver: bool = False,
) -> Planned:
    """`targen run`, checked: the job and its endpoints load, `limit` and `force` make sense."""
    from ..engine.runner import later_stages

    job = job_mod.load(job_file, endpoints)
    check_limit(limit)
    force = tuple(s.strip() for s in force if s.strip())
    try:
        later_stages(list(force))
    except ValueError as e:
        raise SpecError(f"--force: {e}") from None
    run_dir = run_dir or f"runs/{job.spec.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    return Planned(job, run_dir, limit, force, {"job": job_file, "endpoints": endpoints}, in_driver=in_driver)


def run(
    job_file: str, endpoints: str | None = None, run_dir: str | None = None, limit=None, force=(), in_driver=False
) -> dict:
    """Make the job's dataset into `run_dir` (or continue the run there); its summary."""
    return plan_run(job_file, endpoints, run_dir, limit, force, in_driver).execute()


def plan_retry(run_dir: str, steps=RETRYABLE, job_file: str | None = None, endpoints: str | None = None) -> Planned:
    """`targen retry-rejects`, checked: the job and endpoints recorded in the run (or given) load."""
    recorded = RunDir(run_dir).read_json(RUN_FILE)
    if recorded is None:
        raise SpecError(f"{run_dir}: not a targen run directory (no {RUN_FILE})")
    files = recorded.get("files") or {}
    job_file = job_file or files.get("job")
    if not job_file:
        raise SpecError(f"{run_dir}/{RUN_FILE}: no job file recorded; pass --job")
    steps = tuple(s.strip() for s in steps if s.strip())
    if not steps or set(steps) - set(RETRYABLE):
        raise SpecError(f"--steps: expected {' and/or '.join(RETRYABLE)}, got {','.join(steps)!r}")
    job = job_mod.load(job_file, endpoints or files.get("endpoints"))
    return Planned(job, run_dir, recorded["limit"], retry=steps)


def retry_rejects(run_dir: str, steps=RETRYABLE, job_file: str | None = None, endpoints: str | None = None) -> dict:
    """Send a run's rejected rows of `steps` again and finish the run; its summary."""
    return plan_retry(run_dir, steps, job_file, endpoints).execute()


def exit_status(summary: dict) -> int:
    """What a finished run exits with: 3 stopped by the budget, 4 short of its sizes, else 0."""
    return 3 if summary["stopped"] else 4 if not summary["complete"] else 0


def estimate(job_file: str, endpoints: str | None = None, limit: int | None = None) -> dict:
    """Requests, tokens, USD and the time rate limits imply, per step, without calling any model."""
    from ..engine.estimate import estimate as job_estimate

    job = job_mod.load(job_file, endpoints, check_keys=False)
    check_limit(limit)
    return job_estimate(job, limit)


def export(run_dir: str) -> dict[str, int]:
    """A finished run's splits as SuperGLUE's JSONL files in the run dir; lines per file."""
    from ..engine.export import export_superglue
    from ..engine.tasks import recorded_task

    run = RunDir(run_dir)
    recorded = run.read_json(RUN_FILE)
    if recorded is None or not run.files(run.final(), recursive=True):
        raise SpecError(f"{run_dir}: no finished run here (no {RUN_FILE} or no {run.final()}/)")
    return export_superglue(recorded_task(recorded), run)


def analyze(run_dir: str, reference: str | None = None, out: str | None = None) -> dict:
    """Every metric of a finished run (beside a reference set, if given) into metrics.json and
    report.html under `out` (default: the run's report folder); metrics.json's content."""
    from analysis.analyze import analyze as analyze_run

    return analyze_run(run_dir, Path(reference) if reference else None, out or report_dir(run_dir))


def evaluate(
    run_dir: str, reference: list[str] = (), model: str | None = None, out: str | None = None, steps: int | None = None
) -> dict:
    """Train a small model on the run's synthetic train split (and on the reference's train split, if
    given) and score it on the others; the result joins metrics.json and report.html under `out`.
    `model`: for a task with labels, tfidf (default), embedding or finetune."""
    from analysis.analyze import with_evaluation
    from analysis.evaluate import evaluate as evaluate_run

    result = evaluate_run(run_dir, [Path(p) for p in reference], model, steps)
    with_evaluation(run_dir, result, out or report_dir(run_dir))
    return result


def report_dir(run_dir: str) -> str:
    return f"{run_dir.rstrip('/')}/{RunDir.report()}"


def publish(
    run_dir: str,
    dest: str,
    superglue=False,
    overwrite=False,
    allow_incomplete=False,
    force_publish=False,
    mode: str = "append",
    create_namespace=False,
) -> tuple[str, dict]:
    """Publish a finished run that passes its quality gate at `dest`: a path or s3://... (data, card,
    manifest last), or iceberg://[CATALOG/]NAMESPACE.TABLE (a snapshot with the run's lineage, `mode`
    append or overwrite)."""
    from ..engine import iceberg
    from .terminal import quiet

    if iceberg.is_iceberg(dest):
        if superglue or overwrite:
            raise SpecError(f"{'--superglue' if superglue else '--overwrite'}: not for iceberg:// (see --mode)")
        with quiet(RunDir(run_dir)):  # Ray's and Ray Data's own lines go to the run's log, as a run's do
            return iceberg.publish(run_dir, dest, mode, create_namespace, allow_incomplete, force_publish)
    if mode != "append" or create_namespace:
        raise SpecError(f"{'--mode' if mode != 'append' else '--create-namespace'}: only for iceberg:// destinations")
    from ..engine.publish import publish as publish_run

    return publish_run(run_dir, dest, superglue, overwrite, allow_incomplete, force_publish)


def verify(dest: str) -> tuple[dict, list[str]]:
    """Re-check a published dataset: every file against its manifest, or an Iceberg table's rows against
    the runs its snapshots hold. What was checked, and what is wrong."""
    from ..engine import iceberg
    from ..engine.publish import verify as verify_dataset

    return (iceberg.verify if iceberg.is_iceberg(dest) else verify_dataset)(dest)


def init(name: str, description: str, labels=None, extractive: bool = False, root: str = ".") -> list[Path]:
    """Write a new task (job file with the task declared in it, four templates) under `root`."""
    from ..engine.scaffold import init as scaffold

    return scaffold(name, description, list(labels) if labels else None, extractive, Path(root))


def check_limit(limit: int | None) -> None:
    if limit is not None and limit < 1:
        raise SpecError(f"--limit: expected a positive number of rows, got {limit}")


__all__ = [
    "Planned",
    "analyze",
    "estimate",
    "evaluate",
    "exit_status",
    "export",
    "init",
    "plan_retry",
    "plan_run",
    "publish",
    "retry_rejects",
    "run",
    "verify",
]
