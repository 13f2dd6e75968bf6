"""How a step's rows are answered: one interface (`Executor.run`, in base.py) with one implementation
per way of sending requests: online through Ray Data's actors (online.py) or from the driver for small
runs (driver.py), each through the endpoint pool, or in a provider's Batch API (batch.py). Every
executor reads its inputs the same way (inputs.py), judges answers by one policy (outcome.py) and
writes through one sink (sink.py). Another way (a streaming or a priority tier) is a new file with an
`Executor` and a line in `executor_for`."""

from __future__ import annotations

from ...errors import RunError
from ..progress import StageResult
from ..store import RunDir
from ..store.batch_records import uncollected
from .base import Executor
from .batch import Batch
from .cancel import cancel_superseded
from .driver import InDriver
from .inputs import Inputs, Parts, input_ids
from .online import Online
from .stage import Stage


def executor_for(stage: Stage, rows: int | None = None) -> Executor:
    """The step's executor: in batches when its endpoint is a batch endpoint, otherwise online: through
    Ray Data's actors, or in the driver when the run asks for it or when the stage's `rows` all fit in
    what one worker has in flight (a top-up round, step 1): starting an actor pool (seconds) would cost
    more than their one round trip."""
    if stage.job.batch_endpoint(stage.step):
        return Batch(stage)
    refuse_batches_in_flight(stage.run_dir, stage.step, stage.round_id)
    in_flight = sum(spec.max_concurrency for _, spec in stage.job.pool(stage.step))
    small = rows is not None and rows <= in_flight
    return InDriver(stage) if stage.in_driver or small else Online(stage)


def refuse_batches_in_flight(run: RunDir, step: str, round_id: str) -> None:
    """Before a step runs other than in batches: batches an earlier run submitted for it must not be in
    flight, or their rows would be paid for twice (the endpoint was switched from batch to online mid-run)."""
    flying = uncollected(run, step, round_id)
    if flying:
        raise RunError(
            f"step {step}: {len(flying)} batch(es) an earlier run submitted to endpoint {flying[0]['endpoint']!r} "
            f"are in flight ({run}/{run.batch_records(step, round_id)}); put the step back on that "
            "endpoint to collect them, or delete that folder to send their rows online (the batches are paid "
            "for either way)"
        )


def execute(stage: Stage, inputs: Inputs) -> StageResult:
    """Every input row of `stage` answered once: kept, rejected, or sent again until it is one of those."""
    return executor_for(stage, len(input_ids(inputs))).run(inputs)


__all__ = ["Parts", "Stage", "cancel_superseded", "execute", "executor_for", "refuse_batches_in_flight"]
