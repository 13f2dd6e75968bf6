"""Real servers differ: structured-output modes per endpoint (every mode against the fake, which refuses
modes as real servers do), the `auto` probe, deterministic refusals classified once, and model output
read the way real servers send it (response bodies shaped like theirs, parsed by the real SDKs)."""

from __future__ import annotations

import asyncio
import dataclasses
import json

import pytest
from anthropic.types import Message
from conftest import BOOLQ, FAKE_KEY, exact_dedup_only
from harness.process import FakeProcess
from openai.types.chat import ChatCompletion

from targen_ray.config import EndpointSpec
from targen_ray.engine import job as job_mod
from targen_ray.engine import probe
from targen_ray.engine.execute.online import send_row
from targen_ray.engine.pool import Endpoint, Pool, Usage
from targen_ray.engine.providers import Response, build_provider
from targen_ray.engine.providers.anthropic import to_response as message_response
from targen_ray.engine.providers.openai import to_response as chat_response
from targen_ray.engine.runner import run
from targen_ray.engine.steps.generate import GenerateStep
from targen_ray.engine.store import RunDir
from targen_ray.errors import ProviderError

PASSAGE = "The Royal Guild of Weavers of Elsford was founded in 1850 by Ada Whitcombe. It grew quickly."
ROW = {"id": "r1", "seed": PASSAGE, "target_label": 1, "context": "weaving", "sample": 0}
ANSWER = {"question": "Was the guild founded by Ada Whitcombe?", "label": "yes"}


@pytest.fixture(scope="module")
def step():
    job = job_mod.load(BOOLQ, BOOLQ.parent / "endpoints" / "fake.yaml", check_keys=False)
    return GenerateStep(job)


def chat(message: dict, finish: str = "stop", usage: bool = True, choices: bool = True) -> ChatCompletion:
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish}]
        if choices
        else [],
    }
    if usage:
        body["usage"] = {"prompt_tokens": 90, "completion_tokens": 20, "total_tokens": 110}
    return ChatCompletion.model_validate(body)


# Each body is shaped as the named server sends it.
CHAT_CASES = [
    # vLLM with --reasoning-parser: the thinking is split off into reasoning_content
    ("vllm reasoning parser", {"content": json.dumps(ANSWER), "reasoning_content": "The passage says 1850."}, "ok"),
    # vLLM whose reasoning parser took everything (no </think> seen): the answer is in reasoning_content
    ("vllm reasoning only", {"content": None, "reasoning_content": f"Thinking... {json.dumps(ANSWER)}"}, "ok"),
    # Ollama / LM Studio without structured output: a fenced block
    ("ollama fence", {"content": f"```json\n{json.dumps(ANSWER, indent=2)}\n```"}, "ok"),
    # a chat model in prompt mode: prose around the object
    ("prose around", {"content": f"Sure! Here is the JSON you asked for: {json.dumps(ANSWER)} Let me know."}, "ok"),
    # DeepSeek-R1 distills served with no reasoning parser: <think> in the content
    ("think block", {"content": f"<think>\nThe founder is Ada.\n</think>\n\n{json.dumps(ANSWER)}"}, "ok"),
    # OpenAI's refusal field
    ("openai refusal", {"content": None, "refusal": "I'm sorry, I can't help with that."}, "refused: I'm sorry"),
    # tools mode: the forced function call's arguments (OpenAI, vLLM, llama-cpp-python)
    (
        "tool call",
        {
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "boolq_generate", "arguments": json.dumps(ANSWER)},
                }
            ],
        },
        "ok",
    ),
    ("plain prose", {"content": "The answer is yes."}, "invalid JSON: Expecting value"),
]


@pytest.mark.parametrize(("server", "message", "expected"), CHAT_CASES, ids=[c[0] for c in CHAT_CASES])
def test_chat_bodies_are_read_as_real_servers_send_them(step, server, message, expected):
    response = chat_response(chat(message), None, step.request(ROW, 0))
    got = step.fields_from(response, ROW)
    if expected == "ok":
        assert isinstance(got, dict) and json.loads(got["instance"])["question"] == ANSWER["question"], got
        assert got["initial_label"] == 1
    else:
        assert isinstance(got, str) and got.startswith(expected), got


def test_truncated_unclosed_think_missing_usage_and_empty_choices(step):
    request = step.request(ROW, 0)
    cut = chat_response(chat({"content": '{"question": "Was the guild fou'}, finish="length"), None, request)
    assert cut.finish_reason == "length" and step.fields_from(cut, ROW).startswith("invalid JSON: Unterminated string")
    thinking = chat_response(chat({"content": "<think>Let me consider the guild"}, finish="length"), None, request)
    assert step.fields_from(thinking, ROW) == "invalid JSON: the answer ends inside a <think> block"
    # llama.cpp builds and some gateways omit usage: tokens are estimated, and marked so
    no_usage = chat_response(chat({"content": json.dumps(ANSWER)}, usage=False), None, request)
    assert no_usage.usage_estimated and no_usage.input_tokens > 50 and no_usage.output_tokens > 5
    # a gateway's content filter can answer with no choice at all
    empty = chat_response(chat({}, choices=False), None, request)
    assert step.fields_from(empty, ROW) == "empty response: the server sent no choice"


def test_anthropic_gateway_without_the_forced_tool_is_read_as_prose(step):
    """llama.cpp's llama-server speaks the Messages API but answers a forced tool call in text."""
    body = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "m",
        "content": [{"type": "text", "text": f"Here you go:\n```json\n{json.dumps(ANSWER)}\n```"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 80, "output_tokens": 30},
    }
    response = message_response(Message.model_validate(body), None, step.request(ROW, 0))
    assert json.loads(step.fields_from(response, ROW)["instance"])["question"] == ANSWER["question"]
    cut = Message.model_validate({**body, "stop_reason": "max_tokens", "content": [{"type": "text", "text": "{"}]})
    assert message_response(cut).finish_reason == "length"


class _Truncating:
    """A pool whose first answer is cut off at max_tokens: the step asks again once with twice the room."""

    def __init__(self, spec: EndpointSpec):
        self.endpoint, self.sent = Endpoint("writer", spec), []

    async def call(self, request, usage: Usage):
        self.sent.append(request.max_tokens)
        if len(self.sent) == 1:
            return Response(text='{"question": "Was', input_tokens=9, output_tokens=120, finish_reason="length"), (
                self.endpoint
            )
        return Response(text=json.dumps(ANSWER), input_tokens=9, output_tokens=20), self.endpoint


def test_a_truncated_answer_is_asked_again_once_with_more_room(step):
    pool = _Truncating(next(iter(step.job.endpoints.values())))
    row = asyncio.run(send_row(step, ROW, pool))
    assert row["error"] is None and pool.sent == [step.max_tokens, 2 * step.max_tokens]


# -- modes against the fake ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """Three fakes: one taking every mode; one like llama-cpp-python's server (no json_schema, no guided
    decoding); one taking none (only what the prompt says)."""
    tmp = tmp_path_factory.mktemp("fakes")
    made = {
        "all": FakeProcess(tmp),
        "llamacpp": FakeProcess(tmp, "--accept-modes", "json_object,tools,prompt"),
        "none": FakeProcess(tmp, "--accept-modes", "prompt"),
    }
    yield made
    for server in made.values():
        server.stop()


def _spec(server: FakeProcess, provider: str, **extra) -> EndpointSpec:
    base = f"{server.url}/v1" if provider == "openai" else server.url
    model = "fake-writer" if provider == "openai" else "fake-judge"
    return EndpointSpec(provider=provider, model=model, base_url=base, api_key_env="FAKE_API_KEY", **extra)


@pytest.mark.parametrize(
    ("provider", "mode"),
    [("openai", m) for m in ("json_schema", "vllm", "json_object", "tools", "prompt")]
    + [("anthropic", m) for m in ("tools", "prompt")],
)
def test_every_mode_against_a_server_that_takes_it(servers, step, monkeypatch, provider, mode):
    monkeypatch.setenv("FAKE_API_KEY", FAKE_KEY)
    server = servers["all"]
    before = server.stats().get(f"{provider}.mode.{mode}", 0)

    async def go():
        client = build_provider("writer", _spec(server, provider, structured=mode))
        try:
            return await client.complete(step.request(ROW, 0))
        finally:
            await client.aclose()

    got = step.fields_from(asyncio.run(go()), ROW)
    assert isinstance(got, dict), got
    assert server.stats()[f"{provider}.mode.{mode}"] == before + 1  # the server saw the mode asked for


def test_auto_probes_once_and_picks_the_strongest_mode_each_server_takes(servers, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_API_KEY", FAKE_KEY)
    for name, expected in (
        ("all", ("json_schema", "tools")),
        ("llamacpp", ("json_object", "tools")),
        ("none", ("prompt", "prompt")),
    ):
        server = servers[name]
        endpoints = {
            "writer": _spec(server, "openai"),
            "judge": _spec(server, "anthropic"),
            "alias": _spec(server, "openai", workers=3),
        }  # a second name for the writer's server+model
        job = dataclasses.replace(
            job_mod.load(BOOLQ, BOOLQ.parent / "endpoints" / "fake.yaml", check_keys=False), endpoints=endpoints
        )
        run_dir = RunDir(str(tmp_path / name))
        before = server.stats().get("openai.requests", 0) + server.stats().get("anthropic.requests", 0)
        resolved = probe.resolve(job, run_dir)
        modes = {n: s.structured for n, s in resolved.endpoints.items()}
        assert (modes["writer"], modes["judge"]) == expected and modes["alias"] == modes["writer"]
        sent = server.stats().get("openai.requests", 0) + server.stats().get("anthropic.requests", 0) - before
        recorded = run_dir.read_json(run_dir.structured_file())
        assert sent == sum(p["requests"] for p in recorded.values())  # every probe is in the ledger
        probe.resolve(job, run_dir)  # recorded: a second run of the directory probes nothing
        assert server.stats().get("openai.requests", 0) + server.stats().get("anthropic.requests", 0) - before == sent


def test_a_run_on_a_llamacpp_like_server_completes_and_pays_each_request_once(ray_session, servers, tmp_path):
    server = servers["llamacpp"]
    before = server.stats()
    job = job_mod.load(exact_dedup_only(BOOLQ, tmp_path), server.endpoints())
    summary = run(job, str(tmp_path / "run"), limit=8, in_driver=True)
    after = server.stats()
    assert summary["complete"] and summary["rows"]["counts_add_up"]
    assert summary["structured"] == {"writer": "json_object", "judge": "tools"}
    served = sum(after.get(f"{api}.requests", 0) - before.get(f"{api}.requests", 0) for api in ("openai", "anthropic"))
    assert summary["requests"] == served == sum(e["requests"] for e in summary["ledger"].values())


def test_a_refused_request_is_classified_once_not_retried_five_times(servers, step, monkeypatch):
    """llama-cpp-python's server answers json_schema with a 500 whose body is a validation error: the
    second identical answer makes it deterministic, so later rows cost one request each, not five."""
    monkeypatch.setenv("FAKE_API_KEY", FAKE_KEY)
    server = servers["llamacpp"]

    async def go():
        pool = Pool([Endpoint("writer", _spec(server, "openai", structured="json_schema"))])
        counts = []
        for _ in range(3):
            before = server.stats()["openai.requests"]
            with pytest.raises(ProviderError) as e:
                await pool.call(step.request(ROW, 0), Usage())
            counts.append(server.stats()["openai.requests"] - before)
        await pool.aclose()
        return counts, str(e.value)

    counts, message = asyncio.run(go())
    assert counts == [2, 1, 1]
    assert "validation error" in message and "a request the server refuses" in message
