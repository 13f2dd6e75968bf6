"""Where a stage's answered rows go, whichever way the step ran (online through the pool, or in
provider batches): kept rows to the step's folder, rejected ones to its rejects, rows paid for and to
be sent again to its retried folder; counted in the stage's result and metrics, shown to `on_kept`
(stage 5's live embedding), and watched by the stage's error-rate breaker."""

from __future__ import annotations

import pyarrow as pa

from ...config import step_of
from ...errors import RunError, StageFailed
from .. import metrics
from ..breakers import ErrorRate, Trip
from ..progress import StageResult
from ..store import RunDir
from .stage import Stage


def stopped_by(step: str, run: RunDir, trip: Trip) -> RunError:
    """The error a tripped breaker stops the stage with."""
    if trip.unanimous:
        return StageFailed(f"step {step}: {trip.reason}")
    return RunError(
        f"step {step} stopped: {trip.reason}. Everything finished is kept in {run}; fix the cause, then "
        f"rerun the same command to continue, or `targen retry-rejects {run}` to send failed rows again"
    )


class Sink:
    def __init__(self, stage: Stage):
        self.stage, self.step, self.run_dir = stage, stage.step, stage.run_dir
        self.result = StageResult()
        self.breaker = ErrorRate(stage.job.spec.stop_error_rate, stage.job.spec.stop_window)
        self._errors: list = []

    def write(self, kept: pa.Table, rejected: pa.Table, retried: pa.Table | None = None) -> None:
        """Write one batch of answered rows (each with its `error`: none for kept rows); `check` then
        stops the stage if they tripped the breaker, once the caller has recorded what it must."""
        run, step, round_id = self.run_dir, self.step, self.stage.round_id
        run.write_part(run.stage_dir(step), round_id, kept.drop_columns(["error"]))
        run.write_part(run.rejects(step), round_id, rejected)
        if retried is not None:
            run.write_part(run.retried(step), round_id, retried)
        self.result.add(step_of(step), kept, rejected, retried)
        metrics.rows(self.stage.job.spec.name, step_of(step), kept.num_rows, rejected.num_rows)
        if self.stage.on_kept is not None:
            self.stage.on_kept(kept)
        self._errors = [*kept["error"].to_pylist(), *rejected["error"].to_pylist()]

    def check(self) -> None:
        """Raise the breaker's error if the rows written last tripped it."""
        tripped, self._errors = self.breaker.add(self._errors), []
        if tripped:
            raise stopped_by(self.step, self.run_dir, tripped)
