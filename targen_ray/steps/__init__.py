"""The four TarGEN steps, one class each."""

from .base import Step
from .contexts import ContextsStep
from .correct import CorrectStep
from .generate import GenerateStep
from .seeds import SeedsStep

STEP_CLASSES: dict[str, type[Step]] = {s.name: s for s in (ContextsStep, SeedsStep, GenerateStep, CorrectStep)}

__all__ = ["STEP_CLASSES", "Step"]
