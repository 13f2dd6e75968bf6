"""A job file: the task, its sizes and prompts, the endpoints of each step, stage 5 and the publish gate."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Discriminator, Field, Tag, model_validator

from ..errors import SpecError
from .files import Frozen, line_of, read_yaml, validate
from .names import BACKENDS
from .task import PSEUDO_LABEL, TaskSpec


class StepSpec(Frozen):
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


class Steps(Frozen):
    contexts: StepSpec
    seeds: StepSpec
    generate: StepSpec
    correct: CorrectSpec


class Splits(Frozen):
    train: int = Field(ge=0)
    validation: int = Field(ge=0)
    test: int = Field(ge=0)

    @model_validator(mode="after")
    def _some(self) -> Splits:
        if not self.train + self.validation + self.test:
            raise ValueError("every split is 0: there is nothing to make")
        return self


class GateSpec(Frozen):
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


class DedupSpec(Frozen):
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


class JobSpec(Frozen):
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


def load_job(path: str | Path) -> JobSpec:
    spec = validate(JobSpec, Path(path), _TASK_TAGS)
    if isinstance(spec.task, TaskSpec):  # cross-field mistakes in a declaration, at their line
        problems = spec.task.problems()
        if problems:
            loc, message = problems[0]
            loc = ("task", *loc)
            raise SpecError(f"{path}{line_of(read_yaml(Path(path))[1], loc)}: {'.'.join(map(str, loc))}: {message}")
    return spec
