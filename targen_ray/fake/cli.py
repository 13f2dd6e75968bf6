"""`targen fake-server`: its options and the command, kept beside the server they configure."""

from __future__ import annotations

import argparse

from ..config.kinds import MODES
from ..errors import SpecError


def add_arguments(fake: argparse.ArgumentParser) -> None:
    fake.add_argument("--host", default="127.0.0.1")
    fake.add_argument("--port", type=int, default=8999)
    fake.add_argument("--wrong-label-rate", type=float, default=0.15, help="share of planted wrong labels")
    fake.add_argument(
        "--violation-rate",
        type=float,
        default=0.0,
        help="declared tasks: share of step-3 answers that break a check the request states (word bounds, span)",
    )
    fake.add_argument(
        "--judge-error-rate",
        action="append",
        default=[],
        metavar="MODEL=RATE",
        help="step 4: share of this judge model's verdicts that name a wrong label (independent per model)",
    )
    fake.add_argument("--duplicate-rate", type=float, default=0.1, help="share of near-duplicate seeds")
    fake.add_argument("--latency-ms", type=float, nargs=2, default=(0.0, 0.0), metavar=("LOW", "HIGH"))
    fake.add_argument("--invalid-key", action="append", default=[], help="answer this key with 401")
    fake.add_argument(
        "--prose-model", action="append", default=[], help="answer this model in prose, ignoring the requested schema"
    )
    fake.add_argument(
        "--accept-modes",
        default=",".join(MODES),
        help="structured-output modes the server takes (comma-separated); others are refused as real servers "
        "refuse them (json_schema: a 500 with a validation error, like llama-cpp-python's server; json_object, "
        "tools: 400) or ignored (vllm's guided_json; the answer comes back as prose)",
    )
    faults = fake.add_argument_group(
        "injected faults",
        "Each RATE is a share of requests (0-1, default 0), drawn per request. The shares are disjoint:\n"
        "a request gets at most one fault, and the rates must add up to at most 1. Every injected fault\n"
        "is counted in /stats as API.FAULT (e.g. openai.hang) and named in the request's /log entry\n"
        "(field `fault`).",
    )
    faults.add_argument("--error-rate", type=float, default=0.0, metavar="RATE", help="answer 500 (fault: error)")
    faults.add_argument(
        "--unavailable-rate",
        type=float,
        default=0.0,
        metavar="RATE",
        help="answer 503 with the API's overloaded error body (fault: unavailable)",
    )
    faults.add_argument(
        "--rate-limit-rate",
        type=float,
        default=0.0,
        metavar="RATE",
        help="answer 429 with retry-after (and OpenAI retry-after-ms) of 0.2-1 s, whatever --rpm/--tpm say "
        "(fault: rate_limit)",
    )
    faults.add_argument(
        "--hang-rate",
        type=float,
        default=0.0,
        metavar="RATE",
        help="never answer: hold the request until the client closes the connection (fault: hang)",
    )
    faults.add_argument(
        "--malformed-rate",
        type=float,
        default=0.0,
        metavar="RATE",
        help="answer 200 with the HTTP body cut in half, not parseable JSON (fault: malformed)",
    )
    faults.add_argument(
        "--bad-content-rate",
        type=float,
        default=0.0,
        metavar="RATE",
        help="answer 200, well-formed, but with content that is not valid JSON for the step: cut-off JSON text "
        "or an object missing a required field (OpenAI), a tool_use input missing a required field "
        "(Anthropic) (fault: bad_content)",
    )
    faults.add_argument(
        "--slow-rate", type=float, default=0.0, metavar="RATE", help="answer after an extra --slow-ms (fault: slow)"
    )
    faults.add_argument(
        "--slow-ms", type=float, default=2000.0, metavar="MS", help="extra delay of a slow answer (default 2000)"
    )
    faults.add_argument(
        "--fault-seed",
        type=int,
        metavar="N",
        help="seed the fault draws: the n-th request to arrive always gets the same fault (default: random)",
    )
    usage = fake.add_argument_group("usage details", "What the usage reports beyond input and output tokens.")
    for name, what in (
        ("cached-share", "share of prompt tokens reported read from the prompt cache"),
        ("cache-write-share", "share of prompt tokens reported written to the cache (Anthropic reports them)"),
        ("reasoning-share", "reasoning tokens added per output token of the answer (OpenAI reports them)"),
    ):
        usage.add_argument(f"--{name}", type=float, default=0.0, metavar="R", help=what)
    fake.add_argument("--rpm", type=int, help="requests per minute allowed per key (429 beyond)")
    fake.add_argument("--tpm", type=int, help="tokens per minute allowed per key (429 beyond)")
    fake.add_argument("--window-s", type=float, default=10.0, help="sliding window the limits are enforced over")
    batch = fake.add_argument_group("batch APIs", "OpenAI /v1/files + /v1/batches, Anthropic /v1/messages/batches.")
    batch.add_argument("--batch-delay-s", type=float, default=0.0, metavar="S", help="time until a batch ends")
    batch.add_argument("--batch-error-rate", type=float, default=0.0, metavar="RATE", help="share of lines that error")
    batch.add_argument(
        "--batch-expire-rate", type=float, default=0.0, metavar="RATE", help="share of lines left undone: expired"
    )


def _rates(pairs: list[str]) -> dict[str, float]:
    """MODEL=RATE options as a mapping; a malformed one is a ValueError naming it."""
    out = {}
    for pair in pairs:
        model, _, rate = pair.rpartition("=")
        if not model or not 0 <= float(rate) <= 1:
            raise ValueError(f"--judge-error-rate {pair!r}: expected MODEL=RATE with RATE in 0-1")
        out[model] = float(rate)
    return out


def serve_from_args(args: argparse.Namespace) -> int:
    """`targen fake-server`: serve until stopped; a bad option is a SpecError line."""
    from .batches import BatchConfig
    from .content import ContentConfig
    from .ratelimit import Limits
    from .server import FakeConfig, serve
    from .wire import UsageReport

    try:
        config = FakeConfig(
            content=ContentConfig(
                wrong_label_rate=args.wrong_label_rate,
                duplicate_rate=args.duplicate_rate,
                violation_rate=args.violation_rate,
                judge_error_rates=_rates(args.judge_error_rate),
            ),
            limits=Limits(rpm=args.rpm, tpm=args.tpm, window_s=args.window_s),
            latency_ms=tuple(args.latency_ms),
            invalid_keys=frozenset(args.invalid_key),
            prose_models=frozenset(args.prose_model),
            accept_modes=frozenset(m.strip() for m in args.accept_modes.split(",") if m.strip()),
            error_rate=args.error_rate,
            rate_limit_rate=args.rate_limit_rate,
            unavailable_rate=args.unavailable_rate,
            hang_rate=args.hang_rate,
            malformed_rate=args.malformed_rate,
            bad_content_rate=args.bad_content_rate,
            slow_rate=args.slow_rate,
            slow_ms=args.slow_ms,
            fault_seed=args.fault_seed,
            batch=BatchConfig(args.batch_delay_s, args.batch_error_rate, args.batch_expire_rate),
            usage=UsageReport(args.cached_share, args.cache_write_share, args.reasoning_share),
        )
    except ValueError as e:
        raise SpecError(f"fake-server: {e}") from None
    serve(args.host, args.port, config)
    return 0
