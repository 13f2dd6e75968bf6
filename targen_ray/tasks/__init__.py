"""Task registry: what an instance of each task looks like, how it is checked, how it is written out.

A task is data plus a few small functions, one module per task; the pipeline never special-cases a
task by name.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa


@dataclass(frozen=True)
class Task:
    name: str
    label_names: tuple[str, ...]  # Hugging Face `super_glue` ClassLabel names, label 0 first
    record_schema: pa.Schema  # the final split's SuperGLUE fields, in order
    seed_noun: str  # what a step-2 seed is, for prompts and errors
    seed_tokens: int  # typical length of one seed, for `targen estimate`
    instance_tokens: int  # typical length of what step 3 writes
    instance_schema: dict  # JSON schema of the task fields step 3 writes (label excluded)
    # (seed, instance) -> the task fields that go into the record; the seed is raw material step 3 may
    # not rewrite (e.g. BoolQ's passage).
    build: Callable[[str, dict], dict]
    # task fields -> reason the instance is impossible, or None
    check: Callable[[dict], str | None]
    hf_config: str = ""  # the `super_glue` config on the Hugging Face hub (e.g. "axb"); default: name
    # Extra JSON-schema properties the step-4 judge returns beyond rationale and label (e.g. ReCoRD's
    # answer entity), and how they revise the instance: (fields, judge answer) -> fields, or the reason
    # the instance cannot stand.
    judge_schema: dict | None = None
    revise: Callable[[dict, dict], dict | str] | None = None
    # The split's rows (in idx order, with lineage such as seed_id) -> the `idx` column, for tasks whose
    # idx is a struct (ReCoRD, MultiRC); default 0..n-1.
    make_idx: Callable[[pa.Table], pa.Array] | None = None
    # A final record (SuperGLUE fields, label as an int) -> one line of the original SuperGLUE JSONL.
    to_superglue: Callable[[dict], dict] | None = None

    @property
    def config(self) -> str:
        return self.hf_config or self.name


@functools.cache
def _registry() -> dict[str, Task]:
    """Every task defined in this package: each module names its tasks in `TASKS`."""
    found = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        found.update({t.name: t for t in module.TASKS})
    return found


def get_task(name: str) -> Task:
    tasks = _registry()
    try:
        return tasks[name]
    except KeyError:
        raise KeyError(f"unknown task {name!r} (known: {', '.join(sorted(tasks))})") from None
