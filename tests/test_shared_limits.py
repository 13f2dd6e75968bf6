"""One rate-limit budget per API key and model across every job on the cluster: jobs share it by
priority, two endpoint names for one key share one limiter, a limiter killed mid-run comes back
without a burst, and Ray's metrics endpoint shows the run's figures with their labels, never the key.

A "job" here is four load actors through the real Pool and Pacer, each with the job's name and
priority: what a stage's workers are, minus the pipeline (the pipeline itself is the metrics test)."""

from __future__ import annotations

import json
import os
import re
import signal
import time
import urllib.request

import pytest
import ray
from conftest import BOOLQ, FAKE_KEY, ROOT, exact_dedup_only
from harness.load import LoadWorker
from harness.process import FakeProcess

from targen_ray.config import EndpointSpec
from targen_ray.engine import job as job_mod
from targen_ray.engine.limits import limiters_for
from targen_ray.engine.runner import run

RPM, WINDOW = 2400, "10"  # 400 requests per 10 s window, per key


def spec(server: FakeProcess, **extra) -> EndpointSpec:
    fields = {"provider": "openai", "model": "m", "base_url": f"{server.url}/v1", "api_key_env": "FAKE_API_KEY"}
    return EndpointSpec(**{**fields, "rpm": RPM, **extra})


def start_job(endpoints: dict, name: str, priority: float, each: int = 40, first: int = 0, concurrency: int = 8):
    """Four load actors of one job; `concurrency` requests in flight each."""
    limiters = limiters_for(endpoints, job=name, priority=priority)
    workers = [LoadWorker.remote(list(endpoints.items()), limiters, labels=(name, "load")) for _ in range(4)]
    refs = [w.send.remote(first + i * each, each, concurrency) for i, w in enumerate(workers)]
    return limiters, refs


# Equal shares are the 1:1 case of the weighted share: the fast loop keeps 3:1, make test runs both.
@pytest.mark.parametrize(("pa", "pb"), [pytest.param(1.0, 1.0, marks=pytest.mark.slow), (3.0, 1.0)])
def test_two_jobs_on_one_key_share_it_by_priority(ray_session, tmp_path, pa, pb):
    server = FakeProcess(tmp_path, "--rpm", str(RPM), "--window-s", WINDOW)
    try:
        endpoints = {"writer": spec(server)}
        # Enough requests in flight for each job to hold its share of the second of slots the limiter
        # grants ahead (a job with fewer is limited by its own concurrency, not by the key).
        limiters, a = start_job(endpoints, "job-a", pa, each=60, concurrency=32)
        _, b = start_job(endpoints, "job-b", pb, each=60, first=10_000, concurrency=32)
        # The shares while both want more than the key gives: between 100 and 300 of the 480 requests
        # (before, the job started first runs alone; after, a job's last workers leave their share to
        # the other, as they should).
        deadline, samples = time.monotonic() + 120, []
        while len(samples) < 2 and time.monotonic() < deadline:
            granted = ray.get(limiters["writer"].actor.stats.remote())["jobs"]
            if sum(granted.values()) >= (100, 300)[len(samples)]:
                samples.append(granted)
            time.sleep(0.1)
        mid = {job: samples[1][job] - samples[0].get(job, 0) for job in samples[1]}
        results = ray.get(a + b)
        assert sum(sum(r["served"].values()) for r in results) == 480 and not any(r["failed"] for r in results)
        share = mid["job-a"] / (mid["job-a"] + mid["job-b"])
        expected = pa / (pa + pb)
        assert expected * 0.85 <= share <= expected * 1.15, mid
        assert server.stats()["over_limit"] <= 0.005 * 480  # no request over the window's limit beyond jitter
    finally:
        server.stop()


def test_two_endpoint_names_for_one_key_and_model_share_one_limiter(ray_session, tmp_path):
    server = FakeProcess(tmp_path, "--rpm", str(RPM), "--window-s", WINDOW)
    try:
        endpoints = {"writer": spec(server), "judge": spec(server, workers=4)}  # one key, one model
        limiters = limiters_for(endpoints, job="one-job")
        assert limiters["writer"].actor._actor_id == limiters["judge"].actor._actor_id
        other = {"writer": spec(server, model="other-model")}
        assert limiters_for(other, job="one-job")["writer"].actor._actor_id != limiters["writer"].actor._actor_id
        workers = [LoadWorker.remote([(n, endpoints[n])], limiters) for n in ("writer", "judge") for _ in range(2)]
        results = ray.get([w.send.remote(i * 120, 120, 8) for i, w in enumerate(workers)])
        assert sum(sum(r["served"].values()) for r in results) == 480  # more than one window's worth
        assert server.stats()["over_limit"] == 0
    finally:
        server.stop()


@pytest.mark.slow  # a fault run of 600 requests over two windows (~20 s)
def test_a_limiter_killed_mid_run_comes_back_without_a_burst(ray_session, tmp_path):
    server = FakeProcess(tmp_path, "--rpm", str(RPM), "--window-s", WINDOW)
    try:
        endpoints = {"writer": spec(server)}
        limiters, refs = start_job(endpoints, "job-k", 1.0, each=150)
        actor = limiters["writer"].actor
        pid = ray.get(actor.stats.remote())["pid"]
        deadline = time.monotonic() + 60
        while server.stats().get("openai.requests", 0) < 150 and time.monotonic() < deadline:
            time.sleep(0.2)  # polling the server's count: kill once the run is well under way
        os.kill(pid, signal.SIGKILL)
        results = ray.get(refs)
        assert sum(sum(r["served"].values()) for r in results) == 600 and not any(r["failed"] for r in results)
        assert ray.get(actor.stats.remote())["pid"] != pid  # restarted
        assert server.stats()["over_limit"] <= 0.005 * 600
    finally:
        server.stop()


def _scrape() -> str:
    port = ray._private.worker.global_worker.node.metrics_export_port
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        return r.read().decode()


@pytest.mark.slow  # a pipeline run, then waiting on Ray's metrics export (~20 s)
def test_metrics_of_a_run_show_on_rays_endpoint_with_labels_and_never_the_key(ray_session, fake, tmp_path):
    job = job_mod.load(exact_dedup_only(BOOLQ, tmp_path), fake.endpoints(rpm=6000, price={"input": 1.0, "output": 2.0}))
    summary = run(job, str(tmp_path / "run"), limit=12)
    assert summary["complete"]
    wanted = {
        "ray_targen_requests_total",
        "ray_targen_input_tokens_total",
        "ray_targen_output_tokens_total",
        "ray_targen_usd_total",
        "ray_targen_in_flight",
        "ray_targen_rows_total",
        "ray_targen_limit_utilisation",
    }
    deadline, found = time.monotonic() + 60, {}
    while time.monotonic() < deadline:  # Ray exports metrics every few seconds
        text = _scrape()
        found = {line.split("{")[0]: line for line in text.splitlines() if line.startswith("ray_targen_")}
        correct_rows = [
            line
            for line in text.splitlines()
            if line.startswith("ray_targen_rows_total") and 'stage="correct"' in line and 'job="boolq"' in line
        ]
        if wanted <= set(found) and correct_rows:
            break
        time.sleep(1)
    assert wanted <= set(found), sorted(found)
    requests = [line for line in text.splitlines() if line.startswith("ray_targen_requests_total")]
    assert any(
        'job="boolq"' in r and 'stage="generate"' in r and 'endpoint="writer"' in r and 'model="fake-writer"' in r
        for r in requests
    )
    assert any('endpoint="judge"' in r and 'stage="correct"' in r for r in requests)
    assert FAKE_KEY not in text and "FAKE_API_KEY" not in text


def test_the_readme_and_the_grafana_dashboard_show_the_same_queries():
    readme = (ROOT / "README.md").read_text().split("## Metrics", 1)[1].split("\n## ", 1)[0]
    documented = re.findall(r"^\| [^|]+ \| `([^`]+)` \|$", readme, re.M)
    dashboard = json.loads((ROOT / "analysis" / "grafana-targen.json").read_text())
    assert documented == [p["targets"][0]["expr"] for p in dashboard["panels"]] and len(documented) == 9
