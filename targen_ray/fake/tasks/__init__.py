"""One module per task (or family of tasks) the fake server can answer: each names its tasks in `TASKS`
and defines `seed(rng, setting)`, `near_duplicate(rng, seed)`, and the step-3 and step-4 answers
`generate(prompt, rng, cfg, schema)` and `correct(prompt, rng, cfg, schema)`, reading the prompts
in prompts/<task>/. A wrong label planted by `generate` (cfg.wrong_label_rate) must be detectable by
`correct` from the instance alone, the way a strong judge catches a weak writer."""

from __future__ import annotations

import functools
import importlib
import pkgutil
from types import ModuleType


@functools.cache
def modules() -> dict[str, ModuleType]:
    """Task name -> the module that answers for it."""
    out = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        out.update(dict.fromkeys(module.TASKS, module))
    return out
