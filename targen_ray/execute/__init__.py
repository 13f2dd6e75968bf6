"""How a step's rows are answered: one interface (`Executor.run`, in base.py) with one implementation
per way of sending requests: online through Ray Data's actors (online.py) or from the driver for small
runs (driver.py), each through the endpoint pool, or in a provider's Batch API (batch.py). Every
executor reads its inputs the same way (inputs.py), judges answers by one policy (outcome.py) and
writes through one sink (sink.py). Another way (a streaming or a priority tier) is a new file with an
`Executor` and a line in `executor_for`."""

from __future__ import annotations

from ..progress import StageResult
from .base import Executor
from .batch import Batch, cancel_superseded, refuse_batches_in_flight
from .driver import InDriver
from .inputs import Inputs, Parts
from .online import Online
from .stage import Stage


def executor_for(stage: Stage) -> Executor:
    """The step's executor: in batches when its endpoint is a batch endpoint, otherwise online (through
    Ray Data's actors, or in the driver when the run asks for it)."""
    if stage.job.batch_endpoint(stage.step):
        return Batch(stage)
    refuse_batches_in_flight(stage.run_dir, stage.step, stage.round_id)
    return InDriver(stage) if stage.in_driver else Online(stage)


def execute(stage: Stage, inputs: Inputs) -> StageResult:
    """Every input row of `stage` answered once: kept, rejected, or sent again until it is one of those."""
    return executor_for(stage).run(inputs)


__all__ = ["Parts", "Stage", "cancel_superseded", "execute", "executor_for"]
