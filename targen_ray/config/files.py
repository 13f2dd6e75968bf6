"""The one way targen reads a YAML file (jobs, endpoints, shipped tasks): data and node tree, errors as
one located line; `validate` builds a model from one with the first problem as that line.

YAML lets the last of two equal keys win, so a label listed twice under `labels:` silently lost one
and the error that followed named another field. Every mapping is checked for a repeated key before
anything is built; a merge key (`<<`) brings in keys that the mapping may override, and is no repeat.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from ..errors import SpecError

MERGE_TAG = "tag:yaml.org,2002:merge"


def read_yaml(path: Path) -> tuple[object, yaml.Node | None]:
    """(data, node tree) of a YAML file; the tree gives `line_of` its lines."""
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as e:
        raise SpecError(f"{path}: cannot read ({e.strerror})") from None
    except UnicodeDecodeError as e:
        line = e.object[: e.start].count(b"\n") + 1
        raise SpecError(f"{path}:{line}: not UTF-8 text (byte 0x{e.object[e.start]:02x} at offset {e.start})") from None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None
        _refuse_repeats(path, loader, node, (), set())
        return loader.construct_document(node), node
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise SpecError(f"{path}{where}: YAML syntax error: {problem}") from None
    finally:
        loader.dispose()


def _refuse_repeats(path: Path, loader: yaml.SafeLoader, node: yaml.Node, at: tuple, seen: set[int]) -> None:
    """Walk the tree (each node once: aliases share nodes) and raise at the first repeated key."""
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.SequenceNode):
        for k, item in enumerate(node.value):
            _refuse_repeats(path, loader, item, (*at, k), seen)
    elif isinstance(node, yaml.MappingNode):
        first: dict = {}
        for key, value in node.value:
            if key.tag != MERGE_TAG and isinstance(key, yaml.ScalarNode):
                same = loader.construct_object(key)  # `yes` and `true` are one key, `"yes"` another
                if same in first:
                    field = ".".join(map(str, at)) or "(top level)"
                    raise SpecError(
                        f"{path}:{key.start_mark.line + 1}: {field}: duplicate key {key.value!r} "
                        f"(first at line {first[same]})"
                    )
                first[same] = key.start_mark.line + 1
            _refuse_repeats(path, loader, value, (*at, key.value), seen)


def line_of(node: yaml.Node | None, loc: tuple) -> str:
    """`:line` of the deepest YAML node on the error's path, so the message points into the file."""
    line = None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            match = [(k, v) for k, v in node.value if k.value == str(key)]
            if not match:
                break
            line, node = match[0][0].start_mark.line + 1, match[0][1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            break
    return f":{line}" if line else ""


class Frozen(BaseModel):
    """A part of the configuration: unknown fields refused, values fixed once read."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def validate(model: type[BaseModel], path: Path, hidden: tuple[str, ...] = ()):
    """`model` from the YAML file at `path`; `hidden`: discriminator tags left out of a field's location."""
    data, node = read_yaml(path)
    if not isinstance(data, dict):
        raise SpecError(f"{path}: expected a YAML mapping at the top level")
    try:
        return model.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")) and p not in hidden)
        field = ".".join(str(p) for p in loc) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        elif err["type"] != "value_error" and "input" in err and not isinstance(err["input"], dict | list):
            msg += f" (got {err['input']!r})"
        raise SpecError(f"{path}{line_of(node, loc)}: {field}: {msg}") from None
