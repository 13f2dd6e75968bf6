"""Task registry: what an instance of each task looks like, how it is checked, how it is written out.

A task is a declaration (`declaration.TaskSpec`: a YAML file here, or a job's inline `task:`) that
`declared.compile_task` turns into a `Task`; a task whose shape a declaration cannot express is a
Python module here defining its `Task` with a few small functions. The pipeline never special-cases a
task by name.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from ...config.files import read_yaml

if TYPE_CHECKING:
    from ...config.task import TaskSpec


@dataclass(frozen=True)
class SpanAnswer:
    """Where a task's answer comes from, for `targen evaluate`'s span baseline: text of the `source`
    field that the `question` fields ask for, held in `field` (a string, a list of strings, or a span
    struct's `text`); one of the row's `candidates` (a list field: ReCoRD's entities) or, with none,
    any short run of the source's words (a declared span field: SQuAD's shape)."""

    field: str
    source: str
    question: tuple[str, ...]
    candidates: str | None = None


@dataclass(frozen=True)
class ChoiceAnswer:
    """Where a multiple-choice task's answer comes from, for `targen evaluate`: `field` holds one item of
    the row's `options` (a list field; a declared `one_of` check), the one that the `question` fields
    (the passage, the question itself) ask for."""

    field: str
    options: str
    question: tuple[str, ...]


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
    answer_of: Callable[[dict], str] | None = None  # fields -> the answer the judge is asked to confirm
    # The split's rows (in idx order, with lineage such as seed_id) -> the `idx` column, for tasks whose
    # idx is a struct (ReCoRD, MultiRC); default 0..n-1.
    make_idx: Callable[[pa.Table], pa.Array] | None = None
    # A final record (SuperGLUE fields, label as an int) -> one line of the original SuperGLUE JSONL.
    to_superglue: Callable[[dict], dict] | None = None
    jsonl_file: str = ""  # the one file `targen export` writes (SuperGLUE's diagnostics); default per split
    # Fields that dedup embeds and analysis measures; default every string field.
    text: tuple[str, ...] | None = None
    # Fields whose values make one question of several rows (MultiRC: a paragraph's question, a row per
    # answer): `targen evaluate` scores such questions whole too (exact match), and resamples them whole.
    question_fields: tuple[str, ...] = ()
    span_answer: SpanAnswer | None = None  # a task without labels whose answer is copied out of a field
    choice_answer: ChoiceAnswer | None = None  # a task without labels whose answer is one of its options
    # The published card: Hugging Face task categories, languages, tags; `benchmark` names the dataset
    # whose fields and types the output keeps ("super_glue" for the built-in tasks).
    task_categories: tuple[str, ...] = ("text-classification",)
    languages: tuple[str, ...] = ("en",)
    tags: tuple[str, ...] = ()
    benchmark: str = ""
    guidance: dict[str, str] = dataclasses.field(default_factory=dict)  # label name -> what makes one (step 3)
    declaration: dict | None = None  # an inline declaration, recorded in run.json for publish and analysis

    @property
    def config(self) -> str:
        return self.hf_config or self.name

    @property
    def text_fields(self) -> list[str]:
        if self.text is not None:
            return list(self.text)
        return [f.name for f in self.record_schema if f.type == pa.string()]

    @property
    def instance_fields(self) -> list[str]:
        """The keys of an instance as `build` makes it (what templates see as `instance.<key>`)."""
        return [n for n in self.record_schema.names if n not in ("idx", "label")]

    def lineage_name(self, column: str) -> str:
        """A lineage column's name in final/: its own, or `_`-prefixed where a task field has it (a task
        field never starts with `_`), so lineage never collides with the task's fields."""
        return f"_{column}" if column in self.record_schema.names else column


@functools.cache
def _registry() -> dict[str, Task]:
    """Every task shipped in this package: a YAML declaration each, or a module naming its tasks in `TASKS`."""
    from ...config.task import TaskSpec
    from .declared import compile_task

    found = {}
    for path in sorted(Path(__file__).parent.glob("*.yaml")):
        task = compile_task(TaskSpec.model_validate(read_yaml(path)[0]), record=False)
        found[task.name] = task
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        found.update({t.name: t for t in getattr(module, "TASKS", ())})
    return found


def get_task(name: str) -> Task:
    tasks = _registry()
    try:
        return tasks[name]
    except KeyError:
        raise KeyError(
            f"unknown task {name!r} (shipped: {', '.join(sorted(tasks))}; or declare one: README, Your own task)"
        ) from None


def resolve(task: str | TaskSpec) -> Task:
    """A job's `task:`: a shipped task's name, or a declaration."""
    if isinstance(task, str):
        return get_task(task)
    from .declared import compile_task

    return compile_task(task)


def recorded_task(recorded: dict) -> Task:
    """The task of a run from its run.json: the declaration it recorded, else the shipped task by name."""
    if recorded.get("declaration"):
        from ...config.task import TaskSpec
        from .declared import compile_task

        return compile_task(TaskSpec.model_validate(recorded["declaration"]))
    return get_task(recorded["task"])
