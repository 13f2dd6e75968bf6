"""report.html: one self-contained offline page (inline CSS, plots as base64 PNG, no script, no CDN)."""

from __future__ import annotations

import base64

import jinja2

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader(__package__, "."),
    autoescape=True,
    undefined=jinja2.StrictUndefined,  # a renamed metric fails the render (and its test), not the reader
    trim_blocks=True,
    lstrip_blocks=True,
)


def _number(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


_ENV.filters["n"] = _number


def render(metrics: dict, figures: dict[str, bytes]) -> str:
    images = {name: base64.b64encode(png).decode() for name, png in figures.items()}
    return _ENV.get_template("report.html.j2").render(m=metrics, images=images)
