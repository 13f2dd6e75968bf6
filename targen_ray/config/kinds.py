"""The provider registry, one record per kind of provider: nothing else lists providers.

A kind names its online client and its batch client (imported on first use, so this module imports no
provider and the configuration can read it), its default URL, whether it needs a key, and the structured-output
modes it can send, strongest first. Adding a provider is one module plus one line here.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

# How an endpoint asks for JSON that matches the step's schema (README "Structured output"):
MODES = ("json_schema", "vllm", "json_object", "tools", "prompt")


@dataclass(frozen=True)
class Kind:
    online: str  # "module:Class" of its Provider
    batch: str | None  # "module:Class" of its BatchClient, or None: no Batch API
    default_url: str | None  # the API's own URL; None: not over HTTP
    needs_key: bool
    modes: tuple[str, ...]  # the structured-output modes it can send, strongest first

    def default_mode(self, base_url: str | None) -> str:
        """The strongest mode at the API's own URL; `auto` (probe) for any other server."""
        if len(self.modes) == 1:
            return self.modes[0]
        own = base_url is None or (self.default_url and base_url.rstrip("/") == self.default_url)
        return self.modes[0] if own else "auto"


KINDS: dict[str, Kind] = {
    "openai": Kind(
        "targen_ray.engine.providers.openai:OpenAIProvider",
        "targen_ray.engine.providers.batch:OpenAIBatch",
        "https://api.openai.com/v1",
        True,
        MODES,
    ),
    "anthropic": Kind(
        "targen_ray.engine.providers.anthropic:AnthropicProvider",
        "targen_ray.engine.providers.batch:AnthropicBatch",
        "https://api.anthropic.com",
        True,
        ("tools", "prompt"),
    ),
    "local": Kind("targen_ray.engine.providers.local:LocalProvider", None, None, False, ("json_object",)),
}


def load(path: str) -> type:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)
