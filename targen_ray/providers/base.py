"""The one provider interface: an async `complete(Request) -> Response`, provider-neutral types."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass

from ..spec import EndpointSpec


@dataclass(frozen=True)
class Request:
    system: str
    prompt: str
    schema_name: str  # e.g. "boolq_generate"; also tells the fake server which step it serves
    schema: dict  # JSON schema the response must satisfy
    max_tokens: int
    temperature: float
    top_p: float
    seed: int | None = None


@dataclass(frozen=True)
class Response:
    text: str
    input_tokens: int
    output_tokens: int


class ProviderError(Exception):
    """A failed call. `retryable` says whether the same request may succeed later."""

    def __init__(self, message: str, *, retryable: bool, status: int | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.status = status


class FatalError(ProviderError):
    """No request to this endpoint can succeed (bad key, missing package, ...): stop the run, retry nothing."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message, retryable=False, status=status)


class AuthError(FatalError):
    """401/403: the key is wrong or revoked."""


class Provider(ABC):
    def __init__(self, name: str, spec: EndpointSpec):
        self.name = name
        self.spec = spec

    @abstractmethod
    async def complete(self, request: Request) -> Response: ...

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        pass


_REGISTRY: dict[str, type[Provider]] = {}


def register(provider: str, cls: type[Provider]) -> None:
    _REGISTRY[provider] = cls


def build_provider(name: str, spec: EndpointSpec) -> Provider:
    from . import anthropic, local, openai  # noqa: F401 - each module registers itself

    return _REGISTRY[spec.provider](name, spec)


def api_key(name: str, spec: EndpointSpec) -> str:
    """The one place that reads API keys: from the environment of the process making the call.

    Keys are never passed through Ray, so they stay out of the object store and job metadata.
    """
    value = os.environ.get(spec.api_key_env or "", "")
    if not value:
        raise FatalError(f"endpoint {name!r}: environment variable {spec.api_key_env} is not set on this node")
    return value
