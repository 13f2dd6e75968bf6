"""An endpoint's prices in USD per million tokens, one per kind of token a provider bills apart: what the
ledger, the budget and `targen estimate` multiply tokens by.

Input tokens are every token of the prompt; the cached and cache-written ones among them are priced at
their own rates where those are set. Unset, they cost the input price: an upper bound for cache reads
(OpenAI bills them at 10-50% of it, Anthropic at 10%), exact for providers that bill no cache writes, an
undercount for Anthropic's (1.25x for the 5-minute cache): set `cache_write` there. Reasoning tokens are
output tokens and cost the output price.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Price(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    input: float = Field(0.0, ge=0, description="USD per million input tokens.")
    output: float = Field(0.0, ge=0, description="USD per million output tokens (reasoning tokens included).")
    cached_input: float | None = Field(
        None, ge=0, description="USD per million input tokens read from the provider's prompt cache; default input."
    )
    cache_write: float | None = Field(
        None, ge=0, description="USD per million input tokens written to the prompt cache (Anthropic); default input."
    )

    def usd(self, input_tokens: int, output_tokens: int, cached: int = 0, written: int = 0) -> float:
        """What tokens cost; `cached` and `written` are the input tokens read from and written to the cache."""
        fresh = max(input_tokens - cached - written, 0)
        cached_rate = self.input if self.cached_input is None else self.cached_input
        write_rate = self.input if self.cache_write is None else self.cache_write
        return (fresh * self.input + cached * cached_rate + written * write_rate + output_tokens * self.output) / 1e6

    def scaled(self, share: float) -> Price:
        """Every rate times `share` (a Batch API's discount)."""
        rates = {k: None if v is None else v * share for k, v in self.model_dump().items()}
        return Price(**rates)
