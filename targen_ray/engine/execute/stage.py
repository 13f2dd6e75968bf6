"""What an executor is given: one step over one round's rows, and what its requests answer to."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from ..job import Job
from ..store import RunDir


@dataclass(frozen=True)
class Stage:
    """One step over one round's rows, and what its requests answer to."""

    job: Job
    step: str
    run_dir: RunDir
    round_id: str  # "r0", "r1", ...: names the parts the stage writes
    limiters: dict  # endpoint name -> the limiter of its key and model
    budget: Any = None  # the run's BudgetActor, or None
    spent_before: float = 0.0  # USD the run spent before this stage (the progress line's run total)
    on_kept: Callable[[pa.Table], None] | None = None  # sees each batch of kept rows once written
    in_driver: bool = False  # online requests from the driver, not a Ray Data actor pool (driver.py)
