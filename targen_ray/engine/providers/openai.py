"""OpenAI chat completions, and any OpenAI-compatible server (vLLM, llama.cpp server) via base_url."""

from __future__ import annotations

from ...errors import ProviderError
from .base import (
    TOOL_DESCRIPTION,
    UNREADABLE,
    Provider,
    Request,
    Response,
    api_key,
    error_detail,
    estimated,
    rate_info,
    status_error,
    unreadable,
    with_schema,
)


class OpenAIProvider(Provider):
    def __init__(self, name, spec):
        super().__init__(name, spec)
        import openai

        self._openai = openai
        # max_retries=0: every attempt must go through this project's own retry policy.
        self._client = openai.AsyncOpenAI(
            api_key=api_key(name, spec), base_url=spec.base_url, max_retries=0, timeout=spec.timeout_s
        )

    async def complete(self, request: Request) -> Response:
        openai = self._openai
        body = chat_body(self.spec.model, request, self.mode)
        extra = {k: body.pop(k) for k in list(body) if k in EXTRA_KEYS}  # not the SDK's own: sent as they are
        try:
            raw = await self._client.chat.completions.with_raw_response.create(**body, extra_body=extra or None)
        except openai.APIStatusError as e:
            raise status_error(self.name, e.status_code, e.response.headers, error_detail(e)) from None
        except openai.APIConnectionError as e:  # includes timeouts
            raise ProviderError(f"{type(e).__name__} from {self.name!r}", retryable=True) from None
        try:  # a 200 can still carry a broken body (cut off, not JSON, another shape): retry it, never crash
            return to_response(raw.parse(), rate_info(raw.headers), request)
        except (*UNREADABLE, openai.APIResponseValidationError) as e:
            raise unreadable(self.name, e) from None

    async def aclose(self) -> None:
        await self._client.close()


EXTRA_KEYS = ("guided_json",)  # vLLM's guided decoding


def chat_body(model: str, request: Request, mode: str = "json_schema") -> dict:
    """The chat-completions request body in a structured-output mode: sent online, or as one line of a
    batch file."""
    system = with_schema(request) if mode == "prompt" else request.system
    body = {
        "model": model,
        "messages": [{"role": "system", "content": system}, {"role": "user", "content": request.prompt}],
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
        "top_p": request.top_p,
    }
    if mode == "json_schema":
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": request.schema_name, "schema": request.schema, "strict": True},
        }
    elif mode == "json_object":  # OpenAI's JSON mode; llama.cpp and others also honour the schema in it
        body["response_format"] = {"type": "json_object", "schema": titled(request)}
    elif mode == "vllm":
        body["guided_json"] = titled(request)
    elif mode == "tools":
        function = {"name": request.schema_name, "description": TOOL_DESCRIPTION, "parameters": request.schema}
        body["tools"] = [{"type": "function", "function": function}]
        body["tool_choice"] = {"type": "function", "function": {"name": request.schema_name}}
    if request.seed is not None:
        body["seed"] = request.seed
    return body


def titled(request: Request) -> dict:
    """The schema with its name as `title` (an annotation decoders ignore), where the mode has no name slot."""
    return {"title": request.schema_name, **request.schema}


def to_response(resp, rate=None, request: Request | None = None) -> Response:
    """A ChatCompletion (online, or parsed from a batch output line) as the provider-neutral Response:
    the content, or the forced function call's arguments; what a reasoning parser split off; the
    finish reason and any refusal; usage, estimated where the server sent none."""
    if not resp.choices:
        return estimated(Response(text="", input_tokens=0, output_tokens=0, rate=rate, finish_reason="empty"), request)
    choice = resp.choices[0]
    message = choice.message
    calls = getattr(message, "tool_calls", None) or []
    text = calls[0].function.arguments if calls else (message.content or "")
    reasoning = getattr(message, "reasoning_content", None) or getattr(message, "reasoning", None)
    usage = resp.usage
    prompt = getattr(usage, "prompt_tokens_details", None)  # servers other than OpenAI's may send neither
    completion = getattr(usage, "completion_tokens_details", None)
    out = Response(
        text=text,
        input_tokens=usage.prompt_tokens if usage else 0,
        output_tokens=usage.completion_tokens if usage else 0,
        rate=rate,
        finish_reason=choice.finish_reason,
        refusal=getattr(message, "refusal", None),
        reasoning=reasoning if isinstance(reasoning, str) else None,
        cached_input_tokens=getattr(prompt, "cached_tokens", None) or 0,  # counted in prompt_tokens
        reasoning_tokens=getattr(completion, "reasoning_tokens", None) or 0,  # counted in completion_tokens
    )
    return out if usage else estimated(out, request)
