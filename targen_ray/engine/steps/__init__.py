"""The four TarGEN steps, one class each."""

from ...config import step_of
from ..job import Job
from .base import Step
from .contexts import ContextsStep
from .correct import CorrectStep
from .generate import GenerateStep
from .seeds import SeedsStep

STEP_CLASSES: dict[str, type[Step]] = {s.name: s for s in (ContextsStep, SeedsStep, GenerateStep, CorrectStep)}


def step_for(job: Job, stage: str) -> Step:
    """The step a stage runs, set up for the stage's endpoints (a panel judge's stage: its judge's)."""
    return STEP_CLASSES[step_of(stage)](job, stage)


__all__ = ["STEP_CLASSES", "Step", "step_for"]
