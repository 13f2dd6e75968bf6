"""How the fake reads what the pipeline asked: the values the templates in prompts/<task>/ put in."""

from __future__ import annotations

import re


def grab(pattern: str, prompt: str, default: str = "") -> str:
    """The first group of `pattern` in the prompt, stripped, or `default`."""
    m = re.search(pattern, prompt, re.S)
    return m.group(1).strip() if m else default


def target_label(prompt: str, labels: list[str], marker: str = "Required answer") -> str:
    """The label the generate prompt asks for (a valid one, whatever the template's quoting)."""
    target = grab(rf"{marker}: ([^\n]+)", prompt).strip('".')
    return target if target in labels else labels[-1]
