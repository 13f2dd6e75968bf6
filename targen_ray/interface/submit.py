"""`targen submit | status | logs | stop`: a job on a Ray cluster through Ray's job API.

The submission carries this folder as its working directory (without .git, .venv and run directories)
and an entrypoint that is the same `targen run` a user types, so a job behaves the same on a laptop and a
cluster. Its id is derived from the job spec, the prompts, --limit and the run directory: submitting the
same work twice is refused instead of paying for it twice. API keys are never put into the runtime
environment or the job metadata: the cluster's nodes have them in their environment (README "Running
on a cluster"), and a driver missing one fails at once naming the variable.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shlex
import sys
from pathlib import Path

from ..engine.job import load
from ..errors import SpecError

DEFAULT_ADDRESS = "http://127.0.0.1:8265"
EXCLUDES = [".git", ".venv", "runs", "**/__pycache__", "*.egg-info", ".pytest_cache"]
FINISHED = {"SUCCEEDED", "FAILED", "STOPPED"}


def client(address: str | None):
    from ray._private.authentication.authentication_token_setup import maybe_enable_token_auth_if_token_available
    from ray.job_submission import JobSubmissionClient

    # Clusters of Ray >= 2.5x take a token: send the one in RAY_AUTH_TOKEN or ~/.ray/auth_token, as
    # ray.init does (the job client alone only does when RAY_AUTH_MODE=token).
    maybe_enable_token_auth_if_token_available(warn_if_disabled=False)
    address = address or os.environ.get("RAY_ADDRESS") or DEFAULT_ADDRESS
    try:
        return JobSubmissionClient(address)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise SpecError(f"--address {address}: no Ray job API there ({str(e).splitlines()[0]})") from None


def submission(job_file: str, endpoints: str | None, run_dir: str | None, limit: int | None) -> tuple[str, str]:
    """The deterministic submission id and the entrypoint of a job, checked here before anything is sent
    (keys are checked by the driver on the cluster, where they are)."""
    job = load(job_file, endpoints, check_keys=False)
    run_dir = run_dir or f"~/targen-runs/{job.spec.name}"
    key = json.dumps({**job.identity(limit), "run_dir": run_dir}, sort_keys=True)
    sub_id = f"targen-{job.spec.name}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"
    args = ["targen", "run", _uploaded(job.path), "--endpoints", _uploaded(job.endpoints_path), "--run-dir", run_dir]
    args += ["--limit", str(limit)] if limit else []
    # `~` stays unquoted so the driver's shell expands it on the head node.
    entry = " ".join(a if a.startswith("~/") else shlex.quote(a) for a in args)
    return sub_id, entry


def _uploaded(path: str) -> str:
    """A file's path inside the uploaded working directory (this folder)."""
    p, cwd = Path(path).resolve(), Path.cwd()
    if not p.is_relative_to(cwd):
        raise SpecError(f"{path}: outside {cwd}, the folder that is uploaded with the job; run targen submit there")
    return str(p.relative_to(cwd))


def submit(job_file, endpoints, address, run_dir, limit, wait: bool) -> int:
    """Submit unless the same work is pending, running or done; a stopped or failed one is submitted again
    as its next attempt (`<id>-2`, ...), which continues its run directory."""
    base, entry = submission(job_file, endpoints, run_dir, limit)
    jobs = client(address)
    sub_id = base
    for attempt in range(2, 1000):
        try:
            state = jobs.get_job_status(sub_id)
        except RuntimeError:  # no such job: this attempt is free
            break
        if state not in {"STOPPED", "FAILED"}:
            raise SpecError(f"{sub_id}: the same job was already submitted ({state}); see `targen status {sub_id}`")
        sub_id = f"{base}-{attempt}"
    try:
        jobs.submit_job(
            entrypoint=entry,
            submission_id=sub_id,
            runtime_env={"working_dir": ".", "excludes": EXCLUDES},
            metadata={"targen_job": Path(job_file).stem},
        )
    except RuntimeError as e:  # e.g. a head just started: "No available agent to submit job, try again later"
        raise SpecError(
            f"--address {jobs.get_address()}: the cluster refused the job: {str(e).splitlines()[0]}"
        ) from None
    print(sub_id)
    return follow(jobs, sub_id) if wait else 0


def follow(jobs, sub_id: str) -> int:
    """Stream the job's logs until it ends; exit 0 only if it succeeded."""

    async def tail() -> None:
        async for lines in jobs.tail_job_logs(sub_id):
            sys.stdout.write(lines)
            sys.stdout.flush()

    asyncio.run(tail())
    info = jobs.get_job_info(sub_id)
    print(f"{sub_id}: {info.status}" + (f" ({info.message})" if info.status != "SUCCEEDED" and info.message else ""))
    return 0 if info.status == "SUCCEEDED" else 1


def status(sub_id: str, address: str | None) -> int:
    info = _info(client(address), sub_id)
    print(f"{sub_id}: {info.status}" + (f" ({info.message})" if info.message else ""))
    return 0


def logs(sub_id: str, address: str | None) -> int:
    jobs = client(address)
    _info(jobs, sub_id)
    sys.stdout.write(jobs.get_job_logs(sub_id))
    return 0


def stop(sub_id: str, address: str | None) -> int:
    jobs = client(address)
    info = _info(jobs, sub_id)
    if info.status in FINISHED:
        print(f"{sub_id}: already {info.status}")
        return 0
    jobs.stop_job(sub_id)
    print(f"{sub_id}: stopping (the run directory keeps every finished row; submit again to continue)")
    return 0


def _info(jobs, sub_id: str):
    try:
        return jobs.get_job_info(sub_id)
    except RuntimeError:
        raise SpecError(f"{sub_id}: no such job on this cluster") from None
