"""Fault injection: what each fault the fake provider injects looks like to the real SDK clients, and a
BoolQ run through a fake that throws all of them at once still fills its quotas exactly."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections import Counter

import jsonschema
import pyarrow.parquet as pq
import pytest
from conftest import BOOLQ, FAKE_KEY
from harness.load import SEEDS_SCHEMA, seed_request
from harness.process import FakeProcess

from targen_ray.config import SPLITS, STEPS, EndpointSpec, load_job
from targen_ray.engine import job as job_mod
from targen_ray.engine import plan
from targen_ray.engine.execute.online import send_row
from targen_ray.engine.pool import Endpoint, Pool
from targen_ray.engine.providers import build_provider
from targen_ray.engine.providers.base import RetryPolicy
from targen_ray.engine.steps.generate import GenerateStep
from targen_ray.engine.store import RunDir
from targen_ray.errors import ProviderError, RateLimited
from targen_ray.fake.server import FakeConfig, FakeServer
from targen_ray.interface.cli import main

FAULTS = ("rate_limit", "error", "unavailable", "hang", "malformed", "bad_content", "slow")
APIS = ("openai", "anthropic")


def flag(fault: str) -> str:
    return f"--{fault.replace('_', '-')}-rate"


def spec_for(fake: FakeProcess, provider: str, timeout_s: float = 5) -> EndpointSpec:
    base = f"{fake.url}/v1" if provider == "openai" else fake.url
    return EndpointSpec(provider=provider, model="fake", base_url=base, api_key_env="FAKE_API_KEY", timeout_s=timeout_s)


def call(fake: FakeProcess, provider: str, timeout_s: float = 5):
    """One request through the real provider class: (response or the exception, seconds taken)."""

    async def once():
        client = build_provider("writer", spec_for(fake, provider, timeout_s))
        try:
            return await client.complete(seed_request(1))
        except ProviderError as e:
            return e
        finally:
            await client.aclose()

    started = time.monotonic()
    outcome = asyncio.run(once())
    return outcome, time.monotonic() - started


@pytest.fixture(scope="module", params=FAULTS)
def faulty(request, tmp_path_factory):
    """A fake server on which every request gets the one fault."""
    server = FakeProcess(tmp_path_factory.mktemp("faulty"), flag(request.param), "1", "--slow-ms", "400")
    yield request.param, server
    server.stop()


@pytest.mark.parametrize("provider", APIS)
def test_each_fault_reaches_the_client_as_expected(faulty, provider, monkeypatch):
    fault, fake = faulty
    monkeypatch.setenv("FAKE_API_KEY", FAKE_KEY)
    before = fake.stats().get(f"{provider}.{fault}", 0)
    outcome, seconds = call(fake, provider, timeout_s=1.5 if fault == "hang" else 5)

    if fault == "rate_limit":
        assert isinstance(outcome, RateLimited) and outcome.retryable
        # OpenAI: retry-after-ms, 200-1000; Anthropic: retry-after in whole seconds.
        assert 0.2 <= outcome.retry_after <= 1.0
    elif fault in ("error", "unavailable"):
        assert type(outcome) is ProviderError and outcome.retryable
        assert outcome.status == (500 if fault == "error" else 503)
    elif fault == "hang":
        # The SDK's own timeout ends it: a retryable error after timeout_s, not a hang of the worker.
        assert type(outcome) is ProviderError and outcome.retryable and "Timeout" in str(outcome)
        assert 1.4 <= seconds < 5
    elif fault == "malformed":
        # The SDKs raise json.JSONDecodeError on a cut-off 200 body; the provider makes it retryable.
        assert type(outcome) is ProviderError and outcome.retryable and "unreadable" in str(outcome)
    elif fault == "bad_content":
        # A well-formed response: it is the step that finds the content unusable and re-asks.
        try:
            errors = list(jsonschema.Draft202012Validator(SEEDS_SCHEMA).iter_errors(json.loads(outcome.text)))
        except json.JSONDecodeError:
            errors = ["cut-off JSON"]
        assert errors, outcome.text
    elif fault == "slow":
        assert json.loads(outcome.text)["seeds"] and seconds >= 0.4

    assert fake.stats()[f"{provider}.{fault}"] == before + 1
    assert fake.log()[-1]["fault"] == fault


def test_hung_requests_are_released_when_clients_give_up(monkeypatch, tmp_path):
    """Hangs hold nothing once the client is gone, and the server keeps answering meanwhile."""
    monkeypatch.setenv("FAKE_API_KEY", FAKE_KEY)
    fake = FakeProcess(tmp_path, "--hang-rate", "1")
    try:

        async def many():
            client = build_provider("writer", spec_for(fake, "openai", timeout_s=4))
            try:
                tasks = [asyncio.create_task(client.complete(seed_request(i))) for i in range(20)]
                # Until all 20 hang (on a loaded machine they arrive late), well inside the clients' timeout.
                deadline = time.monotonic() + 3
                while (held := await asyncio.to_thread(fake.stats))["hanging"] < 20 and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)  # the server answers while 20 requests hang
                outcomes = await asyncio.gather(*tasks, return_exceptions=True)
                return held, outcomes
            finally:
                await client.aclose()

        held, outcomes = asyncio.run(many())
        assert held["hanging"] == 20
        assert all(isinstance(o, ProviderError) and o.retryable for o in outcomes)
        deadline = time.monotonic() + 3
        while fake.stats()["hanging"] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert fake.stats()["hanging"] == 0
        assert {e["status"] for e in fake.log()} == {None}  # never answered
    finally:
        fake.stop()


@pytest.mark.parametrize("fault", ["bad_content", "malformed"])
def test_a_row_whose_every_attempt_fails_becomes_a_reject_with_its_reason(fault, monkeypatch, tmp_path):
    """Through the real step and pool: wrong-schema content is re-asked parse_retries times, a broken body
    is retried by the pool; when every attempt fails the row comes back with the reason, never an exception."""
    monkeypatch.setenv("FAKE_API_KEY", FAKE_KEY)
    fake = FakeProcess(tmp_path, flag(fault), "1")
    try:
        job = job_mod.load(BOOLQ, fake.endpoints(writer="openai", judge="openai"))
        step = GenerateStep(job)
        row = {"id": "r1", "context": "a rowing club", "seed": "The club was founded in 1887.", "target_label": 1}
        policy = RetryPolicy(base_s=0.01)
        pool = Pool([Endpoint("writer", job.endpoints["writer"])], policy=policy)

        async def go():
            try:
                return await send_row(step, row, pool)
            finally:
                await pool.aclose()

        out = asyncio.run(go())
        assert out["fatal"] is None and out["instance"] is None
        if fault == "bad_content":
            assert out["error"].startswith(("invalid JSON: ", "schema violation: ")), out["error"]
            assert out["generate_raw"]  # the last answer is kept for the reject file
            expected = job.spec.parse_retries + 1
        else:
            assert out["error"].startswith("provider error: unreadable response from 'writer'"), out["error"]
            expected = policy.attempts
        assert out["generate_requests"] == expected == fake.stats()[f"openai.{fault}"]
    finally:
        fake.stop()


# The fault matrix: 8% 429 (each pauses its endpoint 0.2-1 s), 5% 5xx, 2% hangs, 5% malformed (half a
# cut-off body, half wrong-schema content), and some slow answers; rates are disjoint shares of requests.
MATRIX = {
    "rate_limit": 0.08,
    "error": 0.03,
    "unavailable": 0.02,
    "hang": 0.02,
    "malformed": 0.025,
    "bad_content": 0.025,
    "slow": 0.03,
}
MATRIX_SEED = 0  # the first 150 requests to arrive include every fault (checked below)
LIMIT = 80  # at least 1 + 18 + 90 + 90 requests


@pytest.mark.slow
def test_fault_matrix_run_fills_its_quotas(ray_session, tmp_path):
    config = FakeConfig(**{f"{k}_rate": v for k, v in MATRIX.items()}, fault_seed=MATRIX_SEED)
    server = FakeServer(config)
    first = Counter(server.draw_fault() for _ in range(150))
    assert set(FAULTS) <= set(first), "this seed would not inject every fault: pick another"

    args = [a for k, v in MATRIX.items() for a in (flag(k), str(v))]
    fake = FakeProcess(tmp_path, *args, "--slow-ms", "500", "--fault-seed", str(MATRIX_SEED))
    try:
        run_dir = tmp_path / "run"
        # writer on OpenAI, judge on Anthropic: both wire formats see every kind of fault
        endpoints = str(fake.endpoints(timeout_s=1.5))
        argv = ["run", str(BOOLQ), "--endpoints", endpoints, "--limit", str(LIMIT), "--run-dir", str(run_dir)]
        assert main([*argv, "--in-driver"]) == 0

        quotas = plan.quotas(load_job(BOOLQ), LIMIT)
        for split in SPLITS:
            labels = Counter(pq.read_table(run_dir / RunDir.final(split))["label"].to_pylist())
            assert labels == Counter({lbl: n for (s, lbl), n in quotas.items() if s == split and n}), split
        assert sum(quotas.values()) == LIMIT

        summary = json.loads((run_dir / RunDir.summary_file()).read_text())
        assert summary["complete"] and summary["stopped"] is None
        assert summary["rows"]["counts_add_up"] and summary["rows"]["kept"] == LIMIT
        for part in (p for step in STEPS for p in (run_dir / RunDir.rejects(step)).glob("*.parquet")):
            assert all(e and e.strip() for e in pq.read_table(part)["error"].to_pylist()), part

        stats = fake.stats()
        injected = {f: sum(stats.get(f"{api}.{f}", 0) for api in APIS) for f in FAULTS}
        assert all(injected.values()), injected  # nothing passed vacuously
        # Every attempt the fake saw is in the run's ledger, each as what it was.
        ledger = summary["ledger"].values()
        assert summary["requests"] == sum(stats.get(f"{api}.requests", 0) for api in APIS)
        assert sum(e["rate_limited"] for e in ledger) == injected["rate_limit"]  # no --rpm: only injected 429s
        failing = injected["error"] + injected["unavailable"] + injected["hang"] + injected["malformed"]
        assert sum(e["errors"] for e in ledger) >= failing
        # Hung requests were let go when the clients timed out: nothing held once the run is over.
        deadline = time.monotonic() + 5
        while fake.stats()["hanging"] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert fake.stats()["hanging"] == 0
        with urllib.request.urlopen(f"{fake.url}/health", timeout=5) as r:
            assert json.load(r)["ok"] is True  # the fake still serves
    finally:
        fake.stop()


def test_fault_rates_are_checked():
    with pytest.raises(ValueError, match="add up to more than 1"):
        FakeConfig(hang_rate=0.6, error_rate=0.5)
    with pytest.raises(ValueError, match="between 0 and 1"):
        FakeConfig(malformed_rate=-0.1)
