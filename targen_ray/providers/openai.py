"""OpenAI chat completions, and any OpenAI-compatible server (vLLM, llama.cpp server) via base_url."""

from __future__ import annotations

from .base import (
    UNREADABLE,
    Provider,
    ProviderError,
    Request,
    Response,
    api_key,
    rate_info,
    register,
    status_error,
    unreadable,
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
        try:
            raw = await self._client.chat.completions.with_raw_response.create(**chat_body(self.spec.model, request))
        except openai.APIStatusError as e:
            raise status_error(self.name, e.status_code, e.response.headers) from None
        except openai.APIConnectionError as e:  # includes timeouts
            raise ProviderError(f"{type(e).__name__} from {self.name!r}", retryable=True) from None
        try:  # a 200 can still carry a broken body (cut off, not JSON, another shape): retry it, never crash
            return to_response(raw.parse(), rate_info(raw.headers))
        except (*UNREADABLE, openai.APIResponseValidationError) as e:
            raise unreadable(self.name, e) from None

    async def aclose(self) -> None:
        await self._client.close()


def chat_body(model: str, request: Request) -> dict:
    """The chat-completions request body: sent online, or as one line of a batch file."""
    body = {
        "model": model,
        "messages": [{"role": "system", "content": request.system}, {"role": "user", "content": request.prompt}],
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": request.schema_name, "schema": request.schema, "strict": True},
        },
    }
    if request.seed is not None:
        body["seed"] = request.seed
    return body


def to_response(resp, rate=None) -> Response:
    """A ChatCompletion (online, or parsed from a batch output line) as the provider-neutral Response."""
    usage = resp.usage
    return Response(
        text=resp.choices[0].message.content or "",
        input_tokens=usage.prompt_tokens if usage else 0,
        output_tokens=usage.completion_tokens if usage else 0,
        rate=rate,
    )


register("openai", OpenAIProvider)
