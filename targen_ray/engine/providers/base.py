"""The one provider interface: an async `complete(Request) -> Response`, provider-neutral types."""

from __future__ import annotations

import dataclasses
import json
import os
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

from ...config.kinds import KINDS, load
from ...errors import AuthError, FatalError, ProviderError, RateLimited

if TYPE_CHECKING:
    from ...config import EndpointSpec
    from ...config.prices import Price


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5  # failures (5xx, timeouts) per request before it is rejected
    rate_limited_attempts: int = 30  # 429s per request before it is rejected
    base_s: float = 0.5
    cap_s: float = 30.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Exponential backoff with full jitter, so workers that failed together do not retry together."""
        return rng.uniform(0, min(self.cap_s, self.base_s * 2**attempt))


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
class RateInfo:
    """Per-minute limits a provider reported in its response headers."""

    limit_requests: float | None = None
    limit_tokens: float | None = None


@dataclass(frozen=True)
class Response:
    text: str
    input_tokens: int  # every prompt token, cached and cache-written ones included (whatever the API counts)
    output_tokens: int  # reasoning tokens included
    rate: RateInfo | None = None
    finish_reason: str | None = None  # "length": cut off at max_tokens; "empty": the server sent no choice
    refusal: str | None = None  # the model declined (OpenAI's `refusal`)
    reasoning: str | None = None  # what a reasoning parser split off (vLLM's `reasoning_content`)
    usage_estimated: bool = False  # the server sent no usage: tokens are estimated from the text
    # Where the provider reports them: input tokens read from and written to its prompt cache, billed at
    # their own rates, and output tokens the model spent reasoning.
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0

    def usd(self, price: Price) -> float:
        """What this response cost at `price`, each kind of token at its rate."""
        return price.usd(self.input_tokens, self.output_tokens, self.cached_input_tokens, self.cache_write_tokens)


# A response's token counts, as the ledger and the rows' token columns keep them
TOKENS = ("input_tokens", "output_tokens", "cached_input_tokens", "cache_write_tokens", "reasoning_tokens")

TOOL_DESCRIPTION = "Record the answer in this structure."


def estimate_tokens(text: str) -> int:
    """Tokens a text costs, before (or without) a tokenizer: about four characters per token."""
    return len(text) // 4 + 1


def estimated(response: Response, request: Request | None) -> Response:
    """The response with tokens estimated from the texts, for a server that sent no usage."""
    sent = estimate_tokens(request.system + request.prompt) if request is not None else 0
    return dataclasses.replace(
        response, input_tokens=sent, output_tokens=estimate_tokens(response.text), usage_estimated=True
    )


def with_schema(request: Request) -> str:
    """The system prompt of `prompt` mode: the schema is in the words only (the answer is checked after)."""
    schema = json.dumps(request.schema, separators=(",", ":"))
    return f"{request.system}\n\nThe JSON object must match this JSON schema ({request.schema_name}):\n{schema}"


def rate_info(headers: Mapping[str, str]) -> RateInfo | None:
    """x-ratelimit-limit-* (OpenAI, vLLM behind a gateway) or anthropic-ratelimit-*-limit headers."""

    def num(*names: str) -> float | None:
        for name in names:
            try:
                return float(headers[name])
            except (KeyError, ValueError):
                continue
        return None

    info = RateInfo(
        num("x-ratelimit-limit-requests", "anthropic-ratelimit-requests-limit"),
        num("x-ratelimit-limit-tokens", "anthropic-ratelimit-tokens-limit"),
    )
    return info if info.limit_requests or info.limit_tokens else None


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from `retry-after-ms`, or `retry-after` as seconds or an HTTP date."""
    try:
        return float(headers["retry-after-ms"]) / 1000
    except (KeyError, ValueError):
        pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def status_error(name: str, status: int, headers: Mapping[str, str], detail: str = "") -> ProviderError:
    """The provider-neutral error for an HTTP error status; `detail` is what the server said (never a key:
    servers do not echo it)."""
    if status in (401, 403):
        return AuthError(f"endpoint {name!r} rejected the API key ({status})", status)
    if status == 429:
        return RateLimited(f"HTTP 429 from {name!r}", retry_after(headers), rate_info(headers))
    retryable = status in (408, 409, 529) or status >= 500
    said = f": {detail}" if detail else ""
    return ProviderError(f"HTTP {status} from {name!r}{said}", retryable=retryable, status=status)


def error_detail(e: Exception) -> str:
    """What a server said in an error body (both SDKs: `error.message`, or the body itself), on one line."""
    body = getattr(e, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        body = inner.get("message", inner) if isinstance(inner, dict) else inner
    return " ".join(str(body or getattr(e, "message", "")).split())[:300]


# What reading a 200 whose body is not the API's response raises, in either SDK: a cut-off or empty body
# (json.JSONDecodeError), a non-JSON one (the SDK hands back a str), JSON of another shape (None fields).
UNREADABLE = (ValueError, TypeError, AttributeError, LookupError)


def unreadable(name: str, e: Exception) -> ProviderError:
    """A 200 whose body could not be read as the API's response: retryable, like a dropped connection."""
    return ProviderError(f"unreadable response from {name!r}: {type(e).__name__}: {str(e)[:120]}", retryable=True)


class Provider(ABC):
    def __init__(self, name: str, spec: EndpointSpec):
        self.name = name
        self.spec = spec

    @property
    def mode(self) -> str:
        """The structured-output mode it sends; `auto` is resolved by a probe before a run (probe.py) and
        means the kind's strongest when it was not (a probe sending each mode itself)."""
        mode = self.spec.structured_mode
        return KINDS[self.spec.provider].modes[0] if mode == "auto" else mode

    @abstractmethod
    async def complete(self, request: Request) -> Response: ...

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        pass


def build_provider(name: str, spec: EndpointSpec) -> Provider:
    """The online client of the endpoint's kind (config/kinds.py), built on first use."""
    return load(KINDS[spec.provider].online)(name, spec)


def api_key(name: str, spec: EndpointSpec) -> str:
    """The one place that reads API keys: from the environment of the process making the call.

    Keys are never passed through Ray, so they stay out of the object store and job metadata.
    """
    value = os.environ.get(spec.api_key_env or "", "")
    if not value:
        raise FatalError(f"endpoint {name!r}: environment variable {spec.api_key_env} is not set on this node")
    return value
