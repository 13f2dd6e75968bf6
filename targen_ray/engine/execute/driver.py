"""A step in the driver: its rows answered on the driver's own event loop by one `StepWorker`, read a
block at a time, with no Ray Data actor pool. For small runs and rehearsals, where starting a stage's
actors (seconds) outweighs its requests; the same limiters, budget, answer policy and sink as online."""

from __future__ import annotations

import asyncio

from ..progress import StageResult
from .base import Executor
from .inputs import Inputs, blocks, finish, input_ids, pending
from .intents import intents_of
from .online import StepWorker


class InDriver(Executor):
    def run(self, inputs: Inputs) -> StageResult:
        stage = self.stage
        todo = pending(stage.run_dir, stage.step, input_ids(inputs))
        if todo.num_rows:
            worker = StepWorker(stage.job, stage.step, stage.limiters, stage.budget, intents_of(stage))
            loop = asyncio.new_event_loop()
            try:
                rows = blocks(stage.job, inputs, todo, stage.run_dir)
                answered = (loop.run_until_complete(worker(block)) for block in rows)
                self.take(answered, todo.num_rows)
            finally:
                loop.run_until_complete(worker.pool.aclose())
                loop.close()
        finish(stage.run_dir, stage.step, stage.round_id)
        return self.sink.result
