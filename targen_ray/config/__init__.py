"""The configuration layer: what a user writes (job files, endpoints files, task declarations), read and
checked with one-line located errors. It imports nothing of the engine (test_layering checks)."""

from .endpoints import BatchSpec, EndpointSpec, GenerationParams, load_endpoints
from .job import DedupSpec, GateSpec, JobSpec, load_job
from .names import BACKENDS, JUDGE_MARK, SPLITS, STEPS, judge_of, step_of

__all__ = [
    "BACKENDS",
    "JUDGE_MARK",
    "SPLITS",
    "STEPS",
    "BatchSpec",
    "DedupSpec",
    "EndpointSpec",
    "GateSpec",
    "GenerationParams",
    "JobSpec",
    "judge_of",
    "load_endpoints",
    "load_job",
    "step_of",
]
