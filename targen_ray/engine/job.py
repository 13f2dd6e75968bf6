"""A job ready to run: the spec, the endpoints it uses, its prompts and task, cross-checked."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ..config import JUDGE_MARK, STEPS, EndpointSpec, JobSpec, judge_of, load_endpoints, load_job, step_of
from ..config.kinds import KINDS
from ..errors import SpecError
from .dedup import reference
from .prompts import PromptSet
from .tasks import Task, resolve


@dataclass(frozen=True)
class Job:
    spec: JobSpec
    endpoints: dict[str, EndpointSpec]  # only the ones the steps use
    prompts: PromptSet
    path: str
    endpoints_path: str = ""

    def identity(self, limit: int | None) -> dict:
        """What makes a run directory this run: the same job spec, the same prompts and the same --limit."""
        prompts = json.dumps(self.prompts.sources, sort_keys=True).encode()
        return {
            "job": self.spec.name,
            "task": self.task.name,
            "declaration": self.task.declaration,  # an inline task: publish and analysis rebuild it from here
            # Stage 5 and a panel's vote are decided afresh from stored rows, and the license and gate only
            # concern the published dataset: changing them continues the run.
            "spec_hash": self.spec.spec_hash(
                exclude={"dedup": True, "license": True, "gate": True, "steps": {"correct": {"vote"}}}
            ),
            "prompts_hash": hashlib.sha256(prompts).hexdigest()[:16],
            "limit": limit,
        }

    @functools.cached_property
    def task(self) -> Task:
        return resolve(self.spec.task)

    @property
    def references(self) -> list[Path]:
        """The job's dedup reference files (a folder: its files), relative to the job file."""
        return reference.files([Path(self.path).parent / p for p in self.spec.dedup.reference])

    @property
    def panel(self) -> list[str]:
        """Step 4's judges when a panel votes (empty for one judge)."""
        return list(self.spec.steps.correct.panel or [])

    def stages(self, step: str) -> list[str]:
        """The stages that send a step's requests: the step itself, or one per judge of step 4's panel."""
        if step == "correct" and self.panel:
            return [f"correct{JUDGE_MARK}{judge}" for judge in self.panel]
        return [step]

    @property
    def paying_stages(self) -> list[str]:
        """Every stage that sends requests, in order: what the cost ledger adds up."""
        return [stage for step in STEPS for stage in self.stages(step)]

    def pool(self, stage: str) -> list[tuple[str, EndpointSpec]]:
        """The endpoints serving a stage, by name (a panel judge's stage: that judge alone)."""
        judge = judge_of(stage)
        names = [judge] if judge else getattr(self.spec.steps, stage).endpoints
        return [(name, self.endpoints[name]) for name in names]

    def batch_endpoint(self, stage: str) -> tuple[str, EndpointSpec] | None:
        """The batch endpoint serving a stage (alone, as `load` checks), or None for an online stage."""
        pool = self.pool(stage)
        return pool[0] if pool[0][1].mode == "batch" else None

    def sampling(self, stage: str) -> tuple[int, float, float]:
        """(max_tokens, temperature, top_p) for a stage: the step's overrides over the pool's first endpoint.

        Every endpoint's max_tokens is a ceiling (what the model allows); a step asks for less.
        """
        step_spec = getattr(self.spec.steps, step_of(stage))
        specs = [spec for _, spec in self.pool(stage)]
        ceiling = min(spec.params.max_tokens for spec in specs)
        params = specs[0].params
        return (
            min(step_spec.max_tokens or ceiling, ceiling),
            params.temperature if step_spec.temperature is None else step_spec.temperature,
            params.top_p,
        )


def default_endpoints(job_path: Path) -> Path:
    return job_path.parent / "endpoints" / "local.yaml"


def load(job_path: str | Path, endpoints_path: str | Path | None = None, *, check_keys: bool = True) -> Job:
    """Load and cross-check everything a run needs; any problem is one SpecError line."""
    job_path = Path(job_path)
    spec = load_job(job_path)
    try:
        task = resolve(spec.task)
    except KeyError as e:
        raise SpecError(f"{job_path}: task: {e.args[0]}") from None
    if len(spec.labels) != len(task.label_names):
        raise SpecError(
            f"{job_path}: labels: task {task.name} has {len(task.label_names)} labels "
            f"({', '.join(task.label_names)}), got {len(spec.labels)}"
        )
    ep_path = Path(endpoints_path) if endpoints_path else default_endpoints(job_path)
    endpoints = load_endpoints(ep_path)
    used = {}
    for step in STEPS:
        field = "panel" if step == "correct" and spec.steps.correct.panel else "endpoint"
        for name in getattr(spec.steps, step).endpoints:
            if name not in endpoints:
                raise SpecError(
                    f"{job_path}: steps.{step}.{field}: {name!r} is not defined in {ep_path} "
                    f"(defined: {', '.join(sorted(endpoints))})"
                )
            ep = endpoints[name]
            if check_keys and ep.api_key_env and not os.environ.get(ep.api_key_env):
                raise SpecError(
                    f"{ep_path}: endpoints.{name}.api_key_env: environment variable {ep.api_key_env} is not set"
                )
            used[name] = ep
        pool = getattr(spec.steps, step).endpoints
        if field == "endpoint" and len(pool) > 1 and any(endpoints[n].mode == "batch" for n in pool):
            raise SpecError(
                f"{job_path}: steps.{step}.endpoint: a step on a batch endpoint uses that endpoint alone, got {pool}"
            )
    prompts = PromptSet.load((job_path.parent / spec.prompts).resolve(), task.instance_fields)
    job = Job(spec=spec, endpoints=used, prompts=prompts, path=str(job_path), endpoints_path=str(ep_path))
    reference.load(job.references, task.text_fields)  # a bad reference file fails here, before any spend
    return job


def check_reachable(job: Job, timeout_s: float = 5.0) -> None:
    """Open (and close) a TCP connection to every HTTP endpoint, so that a wrong base_url is one line
    before a run starts, not hundreds of retried rows after. Nothing is sent; nothing is paid."""
    for name, ep in job.endpoints.items():
        url = ep.base_url or KINDS[ep.provider].default_url
        if url is None:
            continue
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            socket.create_connection((parts.hostname, port), timeout=timeout_s).close()
        except OSError as e:
            where = f"{job.endpoints_path}: endpoints.{name}.base_url"
            raise SpecError(f"{where}: cannot connect to {url} ({e.strerror or type(e).__name__})") from None
