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


def verdict(labels: list[str], proposed: str, label: str | None, reading: str) -> dict:
    """The fake judge's answer: `label`, what the instance really says, with a rationale; or, when the
    instance does not settle it (`label` None), the proposed label kept."""
    if label is None:
        return {"rationale": f"{reading} does not settle it.", "label": proposed if proposed in labels else labels[0]}
    agrees = "agrees with" if label == proposed else "contradicts"
    return {"rationale": f"{reading} {agrees} the proposed label.", "label": label}
