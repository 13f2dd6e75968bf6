"""`structured: auto`, resolved once per run: the driver sends one tiny request per structured-output
mode, strongest first, to each endpoint (per base URL and model), and takes the first mode whose answer
is the JSON the schema forces. The choice is recorded in the run directory, so every worker on every
node, and every later run of the same directory, uses it without probing again; the probes' cost is in
the ledger. A mode a server refuses (an error status) or ignores (an answer that is not the forced
JSON) is passed over; `prompt` (the schema in the prompt only, the answer checked after) always works.
"""

from __future__ import annotations

import asyncio
import dataclasses

from ..config import EndpointSpec
from ..config.kinds import KINDS
from ..errors import AuthError, FatalError, ProviderError, RateLimited, RunError
from .answers import extract
from .job import Job
from .progress import say
from .providers import Request, build_provider
from .store import RunDir

SCHEMA = {
    "type": "object",
    "properties": {"probe": {"type": "string", "enum": ["targen-ok"]}},
    "required": ["probe"],
    "additionalProperties": False,
}
REQUEST = Request(
    system="Reply with one JSON object and nothing else.",
    prompt="Reply with a JSON object.",  # says nothing of the schema: only a mode that enforces it passes
    schema_name="targen_probe",
    schema=SCHEMA,
    max_tokens=32,
    temperature=0.0,
    top_p=1.0,
    seed=0,
)
TRIES = 3  # per mode, for a 429 or a dropped connection


def key(spec: EndpointSpec) -> str:
    """What a mode belongs to: the server and the model (two endpoint names for one share it)."""
    return f"{spec.provider} {spec.base_url or KINDS[spec.provider].default_url} {spec.model}"


def resolve(job: Job, run: RunDir) -> Job:
    """The job with every `auto` endpoint's mode resolved (probing what the run dir has not recorded)."""
    recorded = run.read_json(run.structured_file()) or {}
    auto = {n: s for n, s in job.endpoints.items() if s.structured_mode == "auto"}
    missing = {key(s): (n, s) for n, s in auto.items() if s.mode == "online" and key(s) not in recorded}
    if missing:
        try:
            found = asyncio.run(_probe_all(list(missing.values())))
        except FatalError as e:  # a bad key or a dead server: one line, as at any stage
            raise RunError(str(e)) from None
        recorded = {**recorded, **dict(zip(missing, found, strict=True))}
        run.write_json(run.structured_file(), recorded)
    endpoints = {}
    for name, spec in job.endpoints.items():
        mode = spec.structured_mode
        if mode == "auto":  # a batch endpoint: the Batch APIs are the providers' own, which take the strongest
            mode = recorded[key(spec)]["mode"] if spec.mode == "online" else KINDS[spec.provider].modes[0]
        endpoints[name] = spec.model_copy(update={"structured": mode})
    return dataclasses.replace(job, endpoints=endpoints)


async def _probe_all(endpoints: list[tuple[str, EndpointSpec]]) -> list[dict]:
    return list(await asyncio.gather(*(_probe(name, spec) for name, spec in endpoints)))


async def _probe(name: str, spec: EndpointSpec) -> dict:
    out = {"endpoint": name, "model": spec.model, "mode": "prompt", "tried": [], **_usage()}
    for mode in KINDS[spec.provider].modes:
        if mode == "prompt":
            break
        outcome = await _try(name, spec.model_copy(update={"structured": mode}), out)
        out["tried"].append({"mode": mode, "outcome": outcome})
        if outcome == "accepted":
            out["mode"] = mode
            break
    tried = "; ".join(f"{t['mode']} {t['outcome']}" for t in out["tried"] if t["outcome"] != "accepted")
    say("structured", f"{name} ({spec.model}): {out['mode']}" + (f" ({tried})" if tried else ""))
    return out


async def _try(name: str, spec: EndpointSpec, out: dict) -> str:
    provider = build_provider(name, spec)
    try:
        for attempt in range(TRIES):
            out["requests"] += 1
            try:
                response = await provider.complete(REQUEST)
            except AuthError:
                raise
            except RateLimited as e:
                await asyncio.sleep(e.retry_after if e.retry_after is not None else 2**attempt)
                continue
            except ProviderError as e:
                if e.status is None:  # no answer at all (timeout, connection): that is not a refusal
                    if attempt + 1 == TRIES:
                        raise FatalError(f"endpoint {name!r}: no answer to the structured-output probe ({e})") from None
                    continue
                out["errors"] += 1
                return f"refused ({str(e)[:160]})"
            out["input_tokens"] += response.input_tokens
            out["output_tokens"] += response.output_tokens
            out["usd"] += response.usd(spec.price)
            answer = extract(response.text, response.reasoning)
            return "accepted" if answer == {"probe": "targen-ok"} else "ignored (the answer is not the forced JSON)"
        return "refused (rate limited on every try)"
    finally:
        await provider.aclose()


def _usage() -> dict:
    return {"requests": 0, "input_tokens": 0, "output_tokens": 0, "usd": 0.0, "errors": 0}
