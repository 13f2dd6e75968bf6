"""The regular expressions a step-3 schema states for a field ("Must match the regular expression
"\\?$"." in its description), and text changed to satisfy them, so a rehearsal passes `matches` and
`not_matches` checks.

The common forms are met: a required start (`^(What|How)\\b`) or end (`\\?$`), a required word
(`\\bplease\\b`, `^(?=.*\\bplease\\b)`), a forbidden word (`not_matches`, `^(?!.*\\bfoo\\b)`) and a
character class over the whole field (`^[a-z ]+$`). A short text matching an expression is built from
Python's own parse of it; every result is checked with `re.search` before it is used, and a text that
fails any of its expressions is never claimed to pass (`failing` names what could not be met).
"""

from __future__ import annotations

import json
import re
from re import _constants as c
from re import _parser as parser
from typing import NamedTuple

HINT = re.compile(r"Must (not )?match the regular expression ")
ALPHABET = "eatonisrhldcumfpgwybvkxjqzETAONISRHLDCUMFPGWYBVKXJQZ0123456789 .,?!'-_:;()/\"#@&*+=<>[]{}|\\~^$%"
PUNCT = ".,;:!?"
# ^(?=.*X) and ^(?!.*X) (X required, X forbidden), with inline flags and a `.*$` after them or not
LOOKAHEAD = re.compile(r"^(\(\?[aiLmsux]+\))?\^\(\?([=!])(?:\.\*\??)?(.+?)\)(?:\.\*\$?)?$", re.S)
REPEATS = (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT)
WILD = (c.MAX_REPEAT, (0, c.MAXREPEAT, [(c.ANY, None)]))  # `.*`: what an unanchored side stands for
CATEGORIES = {
    c.CATEGORY_DIGIT: r"\d",
    c.CATEGORY_NOT_DIGIT: r"\D",
    c.CATEGORY_SPACE: r"\s",
    c.CATEGORY_NOT_SPACE: r"\S",
    c.CATEGORY_WORD: r"\w",
    c.CATEGORY_NOT_WORD: r"\W",
}


class Rule(NamedTuple):
    must: bool  # matches (True) or not_matches (False)
    pattern: str

    def holds(self, text: str) -> bool:
        return (re.search(self.pattern, text) is not None) == self.must

    def __str__(self) -> str:
        return f"{'matches' if self.must else 'not_matches'} {self.pattern!r}"


def rules(prop: dict) -> list[Rule]:
    """The expressions a schema property's description states, in order."""
    text, out = prop.get("description", ""), []
    for m in HINT.finditer(text):
        try:
            pattern = json.JSONDecoder().raw_decode(text, m.end())[0]
            re.compile(pattern)
        except (json.JSONDecodeError, TypeError, re.error):  # not one the fake can read: not one it meets
            continue
        out.append(Rule(m.group(1) is None, pattern))
    return out


def failing(text: str, wanted: list[Rule]) -> list[Rule]:
    return [r for r in wanted if not r.holds(text)]


def fit(text: str, wanted: list[Rule], most: int | None = None) -> str:
    """`text` changed to satisfy every rule within `most` words (shortened from its end where the changes
    add words), or `text` unchanged when that cannot be done."""
    if not wanted:
        return text
    words = text.split()
    for keep in range(len(words), 0, -1):
        made = _attempt(" ".join(words[:keep]), wanted)
        if not failing(made, wanted) and (most is None or len(made.split()) <= most):
            return made
    return text


def _attempt(text: str, wanted: list[Rule]) -> str:
    """Forbidden text out, then required text in, until every rule holds (what one rule adds may break
    another), a few rounds at most."""
    for _ in range(3):
        for stage in (_forbid, _require):
            for rule in wanted:
                text = stage(text, rule)
        if not failing(text, wanted):
            break
    return text


def _forbid(text: str, rule: Rule) -> str:
    pattern = rule.pattern
    if rule.must:  # ^(?!.*X): X is forbidden
        m = LOOKAHEAD.match(pattern)
        if not m or m.group(2) != "!":
            return text
        pattern = (m.group(1) or "") + m.group(3)
    for _ in range(5):
        if re.search(pattern, text) is None:
            break
        text = " ".join(re.sub(pattern, " ", text).split())
    return text


def _require(text: str, rule: Rule) -> str:
    """A start, a middle and an end built for the expression around `text`: an unanchored side is free
    text, as is a `.*` inside it; `^[class]+$` keeps the characters of `text` the class allows."""
    m = LOOKAHEAD.match(rule.pattern)
    if not rule.must or rule.holds(text) or (m and m.group(2) == "!"):
        return text
    try:
        items = list(parser.parse((m.group(1) or "") + m.group(3) if m else rule.pattern))
    except re.error:
        return text
    start = bool(items) and items[0] in ((c.AT, c.AT_BEGINNING), (c.AT, c.AT_BEGINNING_STRING))
    end = bool(items) and items[-1] in ((c.AT, c.AT_END), (c.AT, c.AT_END_STRING))
    body = items[start : len(items) - end]
    if start and end and len(body) == 1 and body[0][0] in REPEATS and _only(body[0], c.IN):
        low, _, inner = body[0][1]
        kept = " ".join("".join(_into(ch, inner[0][1]) for ch in text).split())
        return kept if len(kept) >= low else _example(body) or text
    body = ([] if start else [WILD]) + body + ([] if end else [WILD])
    at = [k for k, item in enumerate(body) if item[0] in REPEATS and item[1][0] <= 1 and _only(item, c.ANY)]
    if not at:
        made = _example(body)
        return text if made is None else made
    head, middle, tail = (_example(part) for part in (body[: at[0]], body[at[0] + 1 : at[-1]], body[at[-1] + 1 :]))
    if head is None or middle is None or tail is None:
        return text
    bare = text.rstrip(PUNCT)  # a middle goes before the closing punctuation, which an end may need
    out = f"{bare} {middle}{text[len(bare) :]}" if middle else text
    out = (f"{head} {out}" if head[-1].isalnum() else head + out) if head else out
    return (out.rstrip(PUNCT) + (" " if tail[0].isalnum() else "") + tail) if tail else out


def _only(item: tuple, op) -> bool:
    """A repeat of one `op` (`.*`: ANY; `[a-z ]+`: IN)."""
    inner = item[1][2]
    return len(inner) == 1 and inner[0][0] == op


def _into(ch: str, items: list) -> str:
    """`ch` as the class allows it: itself, lower case, a space for what the class leaves out."""
    for option in (ch, ch.lower(), " "):
        if _member(option, items):
            return option
    return ""


def _member(ch: str, items: list) -> bool:
    negate = bool(items) and items[0][0] == c.NEGATE
    found = False
    for op, arg in items[negate:]:
        if op == c.LITERAL:
            found = ord(ch) == arg
        elif op == c.RANGE:
            found = arg[0] <= ord(ch) <= arg[1]
        elif op == c.CATEGORY:
            found = arg in CATEGORIES and re.fullmatch(CATEGORIES[arg], ch) is not None
        if found:
            break
    return found != negate


def _example(items: list, groups: dict | None = None) -> str | None:
    """A short text the parsed items match, or None for a construct this does not build."""
    groups = {} if groups is None else groups
    out = []
    for op, arg in items:
        if op == c.LITERAL:
            out.append(chr(arg))
        elif op in (c.ANY, c.NOT_LITERAL, c.IN):
            allowed = (
                ch for ch in ALPHABET if op == c.ANY or (ord(ch) != arg if op == c.NOT_LITERAL else _member(ch, arg))
            )
            out.append(next(allowed, None))
        elif op == c.BRANCH:
            out.append(_example(arg[1][0], groups))
        elif op == c.SUBPATTERN:
            out.append(_example(arg[3], groups))
            groups[arg[0]] = out[-1]
        elif op in REPEATS:
            one = _example(arg[2], groups)
            out.append(None if one is None else one * arg[0])
        elif op == c.ATOMIC_GROUP:
            out.append(_example(arg, groups))
        elif op == c.GROUPREF:
            out.append(groups.get(arg))
        elif op not in (c.AT, c.ASSERT, c.ASSERT_NOT):  # anchors and lookarounds: checked at the end
            return None
        if out and out[-1] is None:
            return None
    return "".join(out)
