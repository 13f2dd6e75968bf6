"""What every way of executing a step does (`Executor.run`), given its `Stage`."""

from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa
import pyarrow.compute as pc

from ...errors import BudgetStop, RunError
from ..progress import Progress, StageResult
from . import intents
from .inputs import Inputs
from .sink import Sink
from .stage import Stage


class Executor:
    """Answers every input row of a stage once: kept, rejected, or (paid for, to send again) retried,
    each written through the stage's one `Sink`. Rows answered before are not sent again."""

    def __init__(self, stage: Stage, sink: Sink | None = None):
        self.stage = stage
        self.sink = sink or Sink(stage)  # another executor's, when it hands rows on (batch -> online)

    def run(self, inputs: Inputs) -> StageResult:
        raise NotImplementedError

    def take(self, answered: Iterable[pa.Table], rows: int) -> None:
        """Batches of answered rows (outcome rows, each with its `fatal`) into the sink as they come: a
        fatal error stops the stage once its batch is written; rows the budget did not admit stop it
        after the last batch."""
        step, stage = self.stage.step, self.stage
        progress = Progress(f"{step} {stage.round_id}", rows, stage.spent_before)
        unadmitted = 0
        for batch in answered:
            fatal = batch["fatal"]
            stops = pc.filter(batch["error"], pc.equal(fatal, "error")).to_pylist()
            unadmitted += pc.sum(pc.equal(fatal, "budget")).as_py() or 0
            intents.void(stage, batch.filter(pc.is_valid(fatal)))
            batch = batch.filter(pc.is_null(fatal)).drop_columns(["fatal"])
            failed = pc.is_valid(batch["error"])
            self.sink.write(batch.filter(pc.invert(failed)), batch.filter(failed))
            progress.update(self.sink.result)
            if stops:  # rows done in this batch are written above; the rest of the stage is abandoned
                raise RunError(stops[0])
            self.sink.check()
        progress.update(self.sink.result, force=True)
        if unadmitted:
            budget = stage.job.spec.budget_usd
            raise BudgetStop(f"budget_usd {budget} reached: {unadmitted} rows of step {step} not sent")
