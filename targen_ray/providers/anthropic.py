"""Anthropic messages API; structured output through a forced tool call whose input is the schema.

The current SDK takes no sampling parameters (the models fix them), so temperature/top_p are not sent.
"""

from __future__ import annotations

import json

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
            raw = await self._client.messages.with_raw_response.create(**message_body(self.spec.model, request))
        except anthropic.APIStatusError as e:
            raise status_error(self.name, e.status_code, e.response.headers) from None
        except anthropic.APIConnectionError as e:
            raise ProviderError(f"{type(e).__name__} from {self.name!r}", retryable=True) from None
        try:  # a 200 can still carry a broken body (cut off, not JSON, another shape): retry it, never crash
            return to_response(await raw.parse(), rate_info(raw.headers))  # the async SDK parses asynchronously
        except (*UNREADABLE, anthropic.APIResponseValidationError) as e:
            raise unreadable(self.name, e) from None

    async def aclose(self) -> None:
        await self._client.close()


def message_body(model: str, request: Request) -> dict:
    """The messages request: sent online, or as the `params` of one request of a message batch."""
    return {
        "model": model,
        "system": request.system,
        "messages": [{"role": "user", "content": request.prompt}],
        "max_tokens": request.max_tokens,
        "tools": [
            {
                "name": request.schema_name,
                "description": "Record the answer in this structure.",
                "input_schema": request.schema,
            }
        ],
        "tool_choice": {"type": "tool", "name": request.schema_name},
    }


def to_response(resp, rate=None) -> Response:
    """A Message (online, or from a batch result) as the provider-neutral Response: the forced tool
    call's input as JSON text."""
    tool = next((b for b in resp.content if b.type == "tool_use"), None)
    text = json.dumps(tool.input) if tool else "".join(getattr(b, "text", "") for b in resp.content)
    return Response(text=text, input_tokens=resp.usage.input_tokens, output_tokens=resp.usage.output_tokens, rate=rate)


register("anthropic", AnthropicProvider)
