"""Live metrics through `ray.util.metrics`: Ray exports them on every node's metrics endpoint
(Prometheus, `ray_targen_*`) and the Ray Dashboard's Grafana reads them. README "Metrics" has the
PromQL per figure and `analysis/grafana-targen.json` a ready dashboard.

Labels say where a figure comes from (job, stage, endpoint, model; a limiter's provider, model and
key hash), never a key. Recording is best effort: a metric that cannot be recorded (no Ray running,
as in unit tests) is skipped, never an error.
"""

from __future__ import annotations

TAGS = ("job", "stage", "endpoint", "model")


_made: dict = {}


def _metrics() -> dict | None:
    """The metrics, made once per process, once Ray runs in it."""
    if not _made:
        import ray

        if not ray.is_initialized():
            return None
        _made.update(_make())
    return _made


def _make() -> dict:
    from ray.util.metrics import Counter, Gauge

    return {
        "requests": Counter("targen_requests", "Requests sent, every attempt", tag_keys=TAGS),
        "input_tokens": Counter("targen_input_tokens", "Input tokens the provider counted", tag_keys=TAGS),
        "output_tokens": Counter("targen_output_tokens", "Output tokens the provider counted", tag_keys=TAGS),
        "rate_limited": Counter("targen_rate_limited", "Attempts answered 429", tag_keys=TAGS),
        "errors": Counter("targen_errors", "Attempts that failed (5xx, timeouts, refusals)", tag_keys=TAGS),
        "usd": Counter("targen_usd", "USD, every attempt at the endpoint's price", tag_keys=TAGS),
        "in_flight": Gauge("targen_in_flight", "Requests in flight, per worker (Ray adds WorkerId)", tag_keys=TAGS),
        "rows": Counter("targen_rows", "Rows a stage finished, kept or rejected", tag_keys=("job", "stage", "outcome")),
        "utilisation": Gauge(
            "targen_limit_utilisation",
            "Requests a key's limiter granted over the last 10 s, per minute, / the key's requests limit",
            tag_keys=("provider", "model", "key"),
        ),
    }


def attempt(job: str, stage: str, endpoint, outcome: str, response=None) -> None:
    """One request to an endpoint: "ok", "rate_limited" or "error", and what the provider counted."""
    found = _metrics()
    if found is None:
        return
    tags = {"job": job, "stage": stage, "endpoint": endpoint.name, "model": endpoint.spec.model}
    found["requests"].inc(1, tags)
    if outcome in ("rate_limited", "error"):
        found[{"rate_limited": "rate_limited", "error": "errors"}[outcome]].inc(1, tags)
    if response is not None:
        found["input_tokens"].inc(response.input_tokens, tags)
        found["output_tokens"].inc(response.output_tokens, tags)
        usd = response.usd(endpoint.spec.price)
        if usd:
            found["usd"].inc(usd, tags)


def in_flight(job: str, stage: str, endpoint, value: int) -> None:
    found = _metrics()
    if found is not None:
        tags = {"job": job, "stage": stage, "endpoint": endpoint.name, "model": endpoint.spec.model}
        found["in_flight"].set(value, tags)


def rows(job: str, stage: str, kept: int, rejected: int) -> None:
    found = _metrics()
    if found is not None:
        for outcome, n in (("kept", kept), ("rejected", rejected)):
            if n:
                found["rows"].inc(n, {"job": job, "stage": stage, "outcome": outcome})


def utilisation(provider: str, model: str, key: str, value: float) -> None:
    found = _metrics()
    if found is not None:
        found["utilisation"].set(value, {"provider": provider, "model": model, "key": key})
