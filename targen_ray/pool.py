"""Calls an endpoint for a step: bounded concurrency and this project's retry policy.

SDK retries are off (max_retries=0) so every attempt passes through here and is counted.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field

from .providers import FatalError, Provider, ProviderError, Request, Response, build_provider
from .spec import EndpointSpec


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    base_s: float = 0.5
    cap_s: float = 30.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Exponential backoff with full jitter, so workers that failed together do not retry together."""
        return rng.uniform(0, min(self.cap_s, self.base_s * 2**attempt))


@dataclass
class Usage:
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, response: Response) -> None:
        self.input_tokens += response.input_tokens
        self.output_tokens += response.output_tokens


class Pool:
    def __init__(self, name: str, spec: EndpointSpec, policy: RetryPolicy | None = None):
        self.name, self.spec = name, spec
        self.policy = policy or RetryPolicy()
        self._provider: Provider | None = None  # built on first use, so a setup error stops the run cleanly
        self._slots = asyncio.Semaphore(spec.concurrency)
        self._rng = random.Random()

    async def call(self, request: Request, usage: Usage) -> Response:
        """One logical request; raises ProviderError once the retry budget is spent, AuthError at once."""
        for attempt in range(self.policy.attempts):
            usage.requests += 1
            try:
                if self._provider is None:
                    self._provider = build_provider(self.name, self.spec)
                async with self._slots:
                    response = await self._provider.complete(request)
            except FatalError:
                raise
            except ProviderError as e:
                usage.errors.append(str(e))
                if not e.retryable or attempt + 1 == self.policy.attempts:
                    raise
                await asyncio.sleep(self.policy.delay(attempt, self._rng))
                continue
            usage.add(response)
            return response
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        if self._provider is not None:
            await self._provider.aclose()
