"""Anthropic messages API; structured output through a forced tool call whose input is the schema.

The current SDK takes no sampling parameters (the models fix them), so temperature/top_p are not sent.
"""

from __future__ import annotations

import json

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


class AnthropicProvider(Provider):
    def __init__(self, name, spec):
        super().__init__(name, spec)
        import anthropic

        self._anthropic = anthropic
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key(name, spec), base_url=spec.base_url, max_retries=0, timeout=spec.timeout_s
        )

    async def complete(self, request: Request) -> Response:
        anthropic = self._anthropic
        try:
            body = message_body(self.spec.model, request, self.mode)
            raw = await self._client.messages.with_raw_response.create(**body)
        except anthropic.APIStatusError as e:
            raise status_error(self.name, e.status_code, e.response.headers, error_detail(e)) from None
        except anthropic.APIConnectionError as e:
            raise ProviderError(f"{type(e).__name__} from {self.name!r}", retryable=True) from None
        try:  # a 200 can still carry a broken body (cut off, not JSON, another shape): retry it, never crash
            return to_response(await raw.parse(), rate_info(raw.headers), request)  # parsed asynchronously
        except (*UNREADABLE, anthropic.APIResponseValidationError) as e:
            raise unreadable(self.name, e) from None

    async def aclose(self) -> None:
        await self._client.close()


def message_body(model: str, request: Request, mode: str = "tools") -> dict:
    """The messages request (`tools`: a forced tool call whose input is the schema; `prompt`: the schema
    in the system prompt only): sent online, or as the `params` of one request of a message batch."""
    body = {
        "model": model,
        "system": with_schema(request) if mode == "prompt" else request.system,
        "messages": [{"role": "user", "content": request.prompt}],
        "max_tokens": request.max_tokens,
    }
    if mode == "tools":
        tool = {"name": request.schema_name, "description": TOOL_DESCRIPTION, "input_schema": request.schema}
        body["tools"] = [tool]
        body["tool_choice"] = {"type": "tool", "name": request.schema_name}
    return body


def to_response(resp, rate=None, request: Request | None = None) -> Response:
    """A Message (online, or from a batch result) as the provider-neutral Response: the forced tool
    call's input as JSON text, else the text blocks (a gateway that ignored the tool: read as prose)."""
    tool = next((b for b in resp.content if b.type == "tool_use"), None)
    text = json.dumps(tool.input) if tool else "".join(getattr(b, "text", "") for b in resp.content)
    thinking = "".join(getattr(b, "thinking", "") or "" for b in resp.content if b.type == "thinking")
    usage = getattr(resp, "usage", None)
    # Anthropic's input_tokens leaves out the tokens read from and written to the prompt cache: added back,
    # so that input tokens mean every prompt token for every provider.
    read = (getattr(usage, "cache_read_input_tokens", None) or 0) if usage else 0
    written = (getattr(usage, "cache_creation_input_tokens", None) or 0) if usage else 0
    out = Response(
        text=text,
        input_tokens=usage.input_tokens + read + written if usage else 0,
        output_tokens=usage.output_tokens if usage else 0,
        cached_input_tokens=read,
        cache_write_tokens=written,
        rate=rate,
        finish_reason="length" if resp.stop_reason == "max_tokens" else resp.stop_reason,
        reasoning=thinking or None,
    )
    return out if usage else estimated(out, request)
