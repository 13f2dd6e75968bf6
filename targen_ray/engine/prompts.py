"""Prompt templates: one Jinja2 file per TarGEN step, checked at load so a typo fails before any spend."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jinja2
from jinja2 import meta

from ..config import STEPS
from ..errors import SpecError

# The variables each step's template may use; the steps in targen_ray/steps/ provide exactly these.
VARIABLES: dict[str, frozenset[str]] = {
    "contexts": frozenset({"task", "description", "n"}),
    "seeds": frozenset({"task", "description", "context", "n", "seed_noun"}),
    "generate": frozenset({"task", "description", "context", "seed", "seed_noun", "label", "labels", "guidance"}),
    "correct": frozenset({"task", "description", "instance", "label", "labels"}),
}


def _instance_keys(parsed: jinja2.nodes.Template) -> set[str]:
    """Names a template reads off `instance` (`instance.x` or `instance["x"]`)."""
    keys = set()
    for node in parsed.find_all((jinja2.nodes.Getattr, jinja2.nodes.Getitem)):
        if isinstance(node.node, jinja2.nodes.Name) and node.node.name == "instance":
            if isinstance(node, jinja2.nodes.Getattr):
                keys.add(node.attr)
            elif isinstance(node.arg, jinja2.nodes.Const) and isinstance(node.arg.value, str):
                keys.add(node.arg.value)
    return keys


def _line_of_key(source: str, key: str) -> int:
    return next((k for k, line in enumerate(source.splitlines(), 1) if key in line), 1)


def _env() -> jinja2.Environment:
    return jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False, autoescape=False)


@dataclass(frozen=True)
class PromptSet:
    """Template sources by step. Plain strings, so the set pickles cheaply into Ray workers."""

    folder: str
    sources: dict[str, str]

    @classmethod
    def load(cls, folder: Path, instance_fields: list[str] | None = None) -> PromptSet:
        """The templates of `folder`, each checked for variables its step does not provide, and (given the
        task's `instance_fields`) for `instance.<name>` of a field the task does not have."""
        if not folder.is_dir():
            raise SpecError(f"{folder}: prompt folder not found")
        env, sources = _env(), {}
        for step in STEPS:
            path = folder / f"{step}.j2"
            try:
                source = path.read_text()
            except OSError:
                raise SpecError(f"{path}: missing prompt file for step {step!r}") from None
            try:
                parsed = env.parse(source)
            except jinja2.TemplateSyntaxError as e:
                raise SpecError(f"{path}:{e.lineno}: template syntax error: {e.message}") from None
            unknown = meta.find_undeclared_variables(parsed) - VARIABLES[step]
            if unknown:
                raise SpecError(
                    f"{path}: undefined variable {', '.join(sorted(unknown))!s} "
                    f"(available: {', '.join(sorted(VARIABLES[step]))})"
                )
            missing = sorted(_instance_keys(parsed) - set(instance_fields)) if instance_fields is not None else []
            if missing:
                raise SpecError(
                    f"{path}:{_line_of_key(source, missing[0])}: instance.{missing[0]}: the task has no such field "
                    f"(fields: {', '.join(instance_fields)})"
                )
            sources[step] = source
        return cls(str(folder), sources)

    def renderer(self) -> Renderer:
        return Renderer(self)


class Renderer:
    """Compiled templates; built once per worker actor."""

    def __init__(self, prompts: PromptSet):
        env = _env()
        self._templates = {step: env.from_string(src) for step, src in prompts.sources.items()}

    def render(self, step: str, **variables) -> str:
        return self._templates[step].render(**variables).strip()
