"""A task as data: the `task:` mapping of a job file (or a shipped YAML file beside this one).

It names the instance fields and their types, the field that holds the step-2 seed verbatim, the label
space (or none, for a task whose answer is a span or a text), the declarative checks, and what the
published card says. `declared.compile_task` turns it into the `Task` the pipeline runs; nothing
else reads it. Cross-field problems (a check on a field that does not exist) come from `problems()`
with their path, so the job loader can point at the line.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

FIELD_NAME = r"^[A-Za-z][A-Za-z0-9_]*$"  # never a leading underscore: lineage renamed on a clash takes one
PSEUDO_LABEL = "answer"  # the one label of a task without a label space (step 4 judges the answer)


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class FieldSpec(_Frozen):
    type: Literal["string", "list", "integer", "span"] = Field(
        description="string; list (of strings); integer; span (a text copied from the field `in`, stored with "
        "its character offset, as SQuAD's answers: {text: [...], answer_start: [...]})."
    )
    description: str = Field("", description="What the field holds; goes into the step-3 schema the model sees.")
    text: bool | None = Field(
        None,
        description="A string field that dedup embeds and analysis measures (default true); metadata (a product "
        "name, a category) says false.",
    )
    in_: str | None = Field(None, alias="in", description="span: the field the span must occur in.")
    choices: list[str] | None = Field(None, min_length=1, description="string: the values it may take.")
    one_line: bool = Field(False, description="string: join lines and drop wrapping quotes the model added.")


class CheckSpec(_Frozen):
    field: str = Field(description="The field checked.")
    non_empty: bool = Field(False, description="The value has at least one word (a list: one item).")
    min_words: int | None = Field(None, ge=1, description="At least this many words.")
    max_words: int | None = Field(None, ge=1, description="At most this many words.")
    differs_from: list[str] = Field(default_factory=list, description="Fields whose text this must not equal.")
    not_copy: list[str] = Field(
        default_factory=list, description="Fields this must not equal nor be copied out of (e.g. a question)."
    )
    not_contain: list[str] = Field(
        default_factory=list, description="Fields whose whole text this must not contain (e.g. a hypothesis)."
    )
    one_of: str | None = Field(None, description="A list field whose items this value must be one of.")
    min: int | None = Field(None, description="An integer field: at least this value.")
    max: int | None = Field(None, description="An integer field: at most this value.")
    matches: str | None = Field(None, description="A regular expression the value must contain a match of.")
    not_matches: str | None = Field(None, description="A regular expression the value must not match anywhere.")


class CardSpec(_Frozen):
    task_categories: list[str] = Field(
        default_factory=lambda: ["text-classification"], description="Hugging Face task categories."
    )
    language: list[str] = Field(default_factory=lambda: ["en"], description="Language codes of the data.")
    tags: list[str] = Field(default_factory=list, description="More tags for the card.")
    benchmark: str = Field("", description="A dataset whose fields and types the output keeps (e.g. super_glue).")
    config: str = Field(
        "", description="That dataset's config name, where it differs from the task's (e.g. wsc.fixed)."
    )


class TaskSpec(_Frozen):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="The task's name: schema names, card, lineage.")
    fields: dict[str, FieldSpec] = Field(min_length=1, description="Instance fields in published order.")
    seed_field: str | None = Field(
        None, description="The field that holds the step-2 seed verbatim (step 3 may not rewrite it)."
    )
    seed_noun: str = Field("passage", min_length=1, description="What a step-2 seed is, for prompts.")
    seed_tokens: int = Field(120, ge=1, description="Typical tokens of one seed, for `targen estimate`.")
    instance_tokens: int = Field(60, ge=1, description="Typical tokens of what step 3 writes.")
    labels: list[str] | dict[str, str] | None = Field(
        None,
        description="The label space, label 0 first: a list of names, or names mapped to guidance for the step-3 "
        "prompt (what makes an instance of that label). Leave out for a task whose answer is a span or a text.",
    )
    answer: str | None = Field(
        None, description="No labels: the field step 4 answers again (default: the task's only span field)."
    )
    idx: bool = Field(False, description="Add an int32 `idx` column numbering each split's rows (SuperGLUE's).")
    checks: list[CheckSpec] = Field(default_factory=list, description="Declarative checks; failing rows are rejects.")
    card: CardSpec = Field(default_factory=CardSpec, description="The published dataset card's metadata.")
    jsonl_label: Literal["name", "index", "bool"] = Field(
        "name", description="How `targen export` writes the label: its name, its number, or a JSON boolean."
    )
    jsonl_file: str = Field("", description="`targen export`: the one file to write (AX-b.jsonl); default per split.")
    jsonl_copies: dict[str, str] = Field(
        default_factory=dict, description="`targen export`: extra keys, each a copy of a field (AX-g's pair_id: idx)."
    )

    @property
    def label_names(self) -> list[str]:
        return list(self.labels or [])

    @property
    def guidance(self) -> dict[str, str]:
        return dict(self.labels) if isinstance(self.labels, dict) else {}

    @property
    def answer_field(self) -> str | None:
        """The field step 4 judges when there is no label space."""
        if self.labels:
            return None
        spans = [n for n, f in self.fields.items() if f.type == "span"]
        return self.answer or (spans[0] if len(spans) == 1 else None)

    def problems(self) -> list[tuple[tuple, str]]:
        """Cross-field mistakes as (path inside the declaration, message); empty when it can run."""
        known = f"(fields: {', '.join(self.fields)})"
        return [*self._field_problems(known), *self._task_problems(known), *self._check_problems(known)]

    def _field_problems(self, known: str) -> list[tuple[tuple, str]]:
        out = []
        for name, f in self.fields.items():
            if not re.match(FIELD_NAME, name):
                message = f"field name {name!r} must be letters, digits and _, not starting with _"
                out.append((("fields", name), message))
            if f.type == "span":
                if f.in_ is None:
                    out.append((("fields", name, "in"), "a span needs `in`: the field it must occur in"))
                elif f.in_ not in self.fields or self.fields[f.in_].type != "string":
                    out.append((("fields", name, "in"), f"span target {f.in_!r} is not a string field {known}"))
            elif f.in_ is not None:
                out.append((("fields", name, "in"), "only a span field takes `in`"))
            if f.text and f.type != "string":
                out.append((("fields", name, "text"), "only a string field is text (embedded, measured)"))
            if f.choices is not None and f.type != "string":
                out.append((("fields", name, "choices"), "only a string field takes `choices`"))
        return out

    def _task_problems(self, known: str) -> list[tuple[tuple, str]]:
        out = []
        if "label" in self.fields and self.labels:
            out.append((("fields", "label"), "a task with labels keeps its label in `label`; rename the field"))
        if "idx" in self.fields and self.idx:
            out.append((("fields", "idx"), "idx: true adds `idx`; rename the field or drop idx"))
        if self.seed_field is not None and self.fields.get(self.seed_field, FieldSpec(type="list")).type != "string":
            out.append((("seed_field",), f"seed_field {self.seed_field!r} is not a string field {known}"))
        if self.labels is not None:
            labels = self.label_names
            if len(labels) < 2:
                out.append(
                    (
                        ("labels",),
                        f"a classification task needs at least 2 labels, got {len(labels)}; leave labels "
                        "out for a task whose answer is a span or a text",
                    )
                )
            if len(set(labels)) != len(labels):
                out.append((("labels",), f"labels must be distinct, got {labels}"))
        elif self.answer is not None and self.answer not in self.fields:
            out.append((("answer",), f"answer {self.answer!r} is not a field {known}"))
        elif self.answer_field is None:
            out.append((("answer",), "a task without labels names the field step 4 judges (`answer`)"))
        for key, source in self.jsonl_copies.items():
            if source not in self.fields and not (source == "idx" and self.idx):
                out.append((("jsonl_copies", key), f"{source!r} is not a field {known}"))
        if not [n for n in self.fields if n != self.seed_field]:
            out.append((("fields",), "step 3 must write at least one field besides the seed"))
        return out

    def _check_problems(self, known: str) -> list[tuple[tuple, str]]:
        out = []
        for k, check in enumerate(self.checks):
            refs = [("field", check.field), ("one_of", check.one_of)] + [
                (name, r) for name in ("differs_from", "not_copy", "not_contain") for r in getattr(check, name)
            ]
            for key, ref in refs:
                if ref is not None and ref not in self.fields:
                    out.append((("checks", k, key), f"check on unknown field {ref!r} {known}"))
            if check.one_of and check.one_of in self.fields and self.fields[check.one_of].type != "list":
                out.append((("checks", k, "one_of"), f"one_of needs a list field; {check.one_of!r} is not one"))
            for low, high in (("min_words", "max_words"), ("min", "max")):
                least, most = getattr(check, low), getattr(check, high)
                if least is not None and most is not None and least > most:
                    out.append((("checks", k, high), f"{high} {most} is less than {low} {least}: no value can pass"))
            for key in ("min", "max"):
                field = self.fields.get(check.field)
                if getattr(check, key) is not None and field is not None and field.type != "integer":
                    message = f"{key} bounds an integer field; {check.field!r} is a {field.type}"
                    out.append((("checks", k, key), message))
            for key in ("matches", "not_matches"):
                pattern = getattr(check, key)
                if pattern is not None:
                    try:
                        re.compile(pattern)
                    except re.error as e:
                        out.append((("checks", k, key), f"not a regular expression: {e}"))
        return out
