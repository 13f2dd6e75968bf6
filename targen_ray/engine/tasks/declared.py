"""A declaration (`TaskSpec`) made into the `Task` the pipeline runs: the step-3 schema, `build`, the
checks, step 4's judge for a task without labels, the Arrow schema of the published records.

Offsets never come from the model: a span field is written as text, and `build` finds it in its
target field (exactly, else ignoring case, taking the target's own spelling) and records where.
Every check's reason starts with `field.check:` so rejects/ says which declared check a row failed.
"""

from __future__ import annotations

import json
import re

import pyarrow as pa

from ...config.task import PSEUDO_LABEL, FieldSpec, TaskSpec
from . import ChoiceAnswer, SpanAnswer, Task

QUOTES = "\"'“”‘’`"
SPAN_TYPE = pa.struct([("text", pa.list_(pa.string())), ("answer_start", pa.list_(pa.int32()))])
ARROW = {"string": pa.string(), "list": pa.list_(pa.string()), "integer": pa.int32(), "span": SPAN_TYPE}


def normalise(text: str) -> str:
    """Lower case, words only: what "the same text" means for the copy checks."""
    return " ".join(re.findall(r"[^\W_]+", str(text).lower()))


def find_span(target: str, text: str) -> tuple[str, int]:
    """(the target's own spelling of `text`, its offset), or (text, -1) when it does not occur."""
    text = text.strip()
    if not text:
        return text, -1
    at = target.find(text)
    if at < 0:
        at = target.casefold().find(text.casefold())
        if at >= 0 and len(target.casefold()) != len(target):  # casefold changed lengths: offsets unsafe
            at = -1
    return (target[at : at + len(text)], at) if at >= 0 else (text, -1)


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    while len(text) >= 2 and text[0] in QUOTES and text[-1] in QUOTES:
        text = text[1:-1].strip()
    return text


def _property(name: str, f: FieldSpec, spec: TaskSpec) -> dict:
    """One field of the step-3 schema: plain types and integer bounds (every provider's strict mode takes
    them; a decoder that does not ignores them), with what the model must know in `description` (the
    checks reject what the types let through)."""
    hints = [f.description.strip()] if f.description.strip() else []
    if f.type == "span":
        hints.append(f"Copied word for word from {f.in_}.")
    for check in spec.checks:
        if check.field != name:
            continue
        if check.min_words:
            hints.append(f"At least {check.min_words} words.")
        if check.max_words:
            hints.append(f"At most {check.max_words} words.")
        if check.one_of:
            hints.append(f"One of the items of {check.one_of}.")
        if check.min is not None:
            hints.append(f"At least {check.min}.")
        if check.max is not None:
            hints.append(f"At most {check.max}.")
        # JSON-quoted, so a rehearsal server reads the expression back exactly. Not the schema's `pattern`:
        # decoders take a subset of regular expressions (llama-cpp-python's grammar asserts ^...$ and no
        # lookaround), and a pattern they refuse would fail every request of the step.
        for key, says in (("matches", "Must match"), ("not_matches", "Must not match")):
            if getattr(check, key) is not None:
                hints.append(f"{says} the regular expression {json.dumps(getattr(check, key))}.")
    prop = {"string": {"type": "string"}, "span": {"type": "string"}, "integer": {"type": "integer"}}.get(
        f.type, {"type": "array", "items": {"type": "string"}}
    )
    least = [c.min for c in spec.checks if c.field == name and c.min is not None]
    most = [c.max for c in spec.checks if c.field == name and c.max is not None]
    prop = {**prop, **({"minimum": max(least)} if least else {}), **({"maximum": min(most)} if most else {})}
    if f.choices:
        prop = {**prop, "enum": list(f.choices)}
    return {**prop, "description": " ".join(hints)} if hints else prop


class _Compiled:
    """The functions a Task carries, closed over one declaration (picklable: a plain object)."""

    def __init__(self, spec: TaskSpec):
        self.spec = spec
        self.fields = spec.fields
        self.spans = {n: f.in_ for n, f in spec.fields.items() if f.type == "span"}

    def build(self, seed: str, answer: dict) -> dict:
        out: dict = {}
        for name, f in self.fields.items():
            if name == self.spec.seed_field:
                out[name] = seed.strip()
            elif f.type == "string":
                value = str(answer[name]).strip()
                value = _one_line(value) if f.one_line else value
                # A closed set is matched ignoring case ("Effect" is effect); a model that wrote something
                # else keeps it, and the choices check names it.
                out[name] = next((c for c in f.choices or () if c.casefold() == value.casefold()), value)
            elif f.type == "list":
                items = answer[name] if isinstance(answer[name], list) else [answer[name]]
                out[name] = [s for s in (str(x).strip() for x in items) if s]
            elif f.type == "integer":
                out[name] = int(answer[name])
        for name, target in self.spans.items():
            text, start = find_span(out[target], str(answer[name]))
            out[name] = {"text": [text], "answer_start": [start]}
        return {name: out[name] for name in self.fields}

    def check(self, fields: dict) -> str | None:
        for name, target in self.spans.items():
            span = fields[name]
            for text, start in zip(span["text"], span["answer_start"], strict=True):
                if not text:
                    return f"{name}.span_in: empty answer"
                if start < 0 or fields[target][start : start + len(text)] != text:
                    return f"{name}.span_in: {text[:80]!r} does not occur in {target}"
        for name, f in self.fields.items():
            if f.choices and fields[name] not in f.choices:
                return f"{name}.choices: {fields[name]!r} is not one of {f.choices}"
        for c in self.spec.checks:
            problem = self._one(c, fields)
            if problem:
                return f"{c.field}.{problem}"
        return None

    @staticmethod
    def _text(value) -> str:
        if isinstance(value, dict):  # a span: its text
            return " ".join(value["text"])
        return " ".join(map(str, value)) if isinstance(value, list) else str(value)

    def _one(self, c, fields: dict) -> str | None:
        value = fields[c.field]
        text = self._text(value)
        words = len(normalise(text).split())
        if c.non_empty and (not value if isinstance(value, list) else words == 0):
            return "non_empty: empty"
        if c.min is not None and value < c.min:
            return f"min: {value} is less than {c.min}"
        if c.max is not None and value > c.max:
            return f"max: {value} is more than {c.max}"
        if c.min_words and words < c.min_words:
            return f"min_words: {words} words, fewer than {c.min_words}"
        if c.max_words and words > c.max_words:
            return f"max_words: {words} words, more than {c.max_words}"
        mine = normalise(text)
        for other in c.differs_from + c.not_copy:
            if mine == normalise(self._text(fields[other])):
                return f"{'differs_from' if other in c.differs_from else 'not_copy'}: the same text as {other}"
        for other in c.not_copy:
            if mine and f" {mine} " in f" {normalise(self._text(fields[other]))} ":
                return f"not_copy: copied from {other}"
        for other in c.not_contain:
            theirs = normalise(self._text(fields[other]))
            if theirs and f" {theirs} " in f" {mine} ":
                return f"not_contain: contains the whole of {other}"
        if c.one_of and text not in fields[c.one_of]:
            return f"one_of: {text[:80]!r} is not one of {c.one_of}"
        if c.matches and not re.search(c.matches, text):
            return f"matches: no match of {c.matches!r}"
        if c.not_matches and (m := re.search(c.not_matches, text)):
            return f"not_matches: {m.group(0)!r} matches {c.not_matches!r}"
        return None

    def revise(self, fields: dict, judge: dict) -> dict | str:
        """No labels: the judge answers again; a different answer replaces the instance's (corrected)."""
        name = self.spec.answer_field
        said = str(judge["answer"]).strip()
        if name in self.spans:
            if normalise(said) == normalise(" ".join(fields[name]["text"])):
                return fields
            text, start = find_span(fields[self.spans[name]], said)
            if start < 0:
                return f"judge's answer {said[:80]!r} does not occur in {self.spans[name]}"
            revised = {**fields, name: {"text": [text], "answer_start": [start]}}
        else:
            if normalise(said) == normalise(self._text(fields[name])):
                return fields
            revised = {**fields, name: said}
        problem = self.check(revised)
        return f"judge's answer: {problem}" if problem else revised

    def answer_of(self, fields: dict) -> str:
        return self._text(fields[self.spec.answer_field])

    def superglue(self, record: dict) -> dict:
        line = {k: v for k, v in record.items() if k in self.fields or k == "idx"}
        if "label" in record:
            label = int(record["label"])
            as_ = self.spec.jsonl_label
            line["label"] = bool(label) if as_ == "bool" else label if as_ == "index" else self.spec.label_names[label]
        return {**line, **{key: record[source] for key, source in self.spec.jsonl_copies.items()}}


def compile_task(spec: TaskSpec, record: bool = True) -> Task:
    """The Task of a declaration; `record` keeps the declaration for run.json (inline tasks)."""
    problems = spec.problems()
    if problems:
        path, message = problems[0]
        raise ValueError(f"task.{'.'.join(map(str, path))}: {message}")
    made = _Compiled(spec)
    written = {n: _property(n, f, spec) for n, f in spec.fields.items() if n != spec.seed_field}
    columns = [(n, ARROW[f.type]) for n, f in spec.fields.items()]
    columns += [("idx", pa.int32())] if spec.idx else []
    columns += [("label", pa.int64())] if spec.labels else []
    answer = spec.answer_field
    judged = spec.fields[answer] if answer else None
    text = tuple(n for n, f in spec.fields.items() if f.type == "string" and f.text is not False)
    span = judged is not None and judged.type == "span"  # the text fields besides its source ask for it
    asked = tuple(n for n in text if span and n != judged.in_)
    chosen = judged is not None and judged.type == "string"  # multiple choice: a one_of check names its options
    options = next((c.one_of for c in spec.checks if chosen and c.field == answer and c.one_of), None)
    return Task(
        name=spec.name,
        label_names=tuple(spec.label_names) or (PSEUDO_LABEL,),
        record_schema=pa.schema(columns),
        seed_noun=spec.seed_noun,
        seed_tokens=spec.seed_tokens,
        instance_tokens=spec.instance_tokens,
        instance_schema={
            "type": "object",
            "properties": written,
            "required": list(written),
            "additionalProperties": False,
        },
        build=made.build,
        check=made.check,
        judge_schema=None if judged is None else {"answer": _property(answer, judged, spec)},
        revise=None if judged is None else made.revise,
        answer_of=None if judged is None else made.answer_of,
        to_superglue=made.superglue,
        jsonl_file=spec.jsonl_file,
        text=text,
        task_categories=tuple(spec.card.task_categories),
        languages=tuple(spec.card.language),
        tags=tuple(spec.card.tags),
        benchmark=spec.card.benchmark,
        hf_config=spec.card.config,
        guidance=spec.guidance,
        span_answer=SpanAnswer(field=answer, source=judged.in_, question=asked) if span else None,
        choice_answer=ChoiceAnswer(answer, options, tuple(n for n in text if n != answer)) if options else None,
        declaration=spec.model_dump(mode="json", by_alias=True, exclude_defaults=True) if record else None,
    )
