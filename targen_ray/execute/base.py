"""What every way of executing a step does (`Executor.run`), given its `Stage`."""

from __future__ import annotations

from ..progress import StageResult
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
