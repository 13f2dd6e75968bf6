"""Anthropic messages API; structured output through a forced tool call whose input is the schema.

The current SDK takes no sampling parameters (the models fix them), so temperature/top_p are not sent.
"""

from __future__ import annotations

import json

from .base import AuthError, Provider, ProviderError, Request, Response, api_key, register


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
            resp = await self._client.messages.create(
                model=self.spec.model,
                system=request.system,
                messages=[{"role": "user", "content": request.prompt}],
                max_tokens=request.max_tokens,
                tools=[
                    {
                        "name": request.schema_name,
                        "description": "Record the answer in this structure.",
                        "input_schema": request.schema,
                    }
                ],
                tool_choice={"type": "tool", "name": request.schema_name},
            )
        except (anthropic.AuthenticationError, anthropic.PermissionDeniedError) as e:
            raise AuthError(f"endpoint {self.name!r} rejected the API key ({e.status_code})", e.status_code) from None
        except anthropic.APIStatusError as e:
            retryable = e.status_code in (408, 409, 429, 529) or e.status_code >= 500
            raise ProviderError(f"HTTP {e.status_code}", retryable=retryable, status=e.status_code) from None
        except anthropic.APIConnectionError as e:
            raise ProviderError(f"{type(e).__name__}: {e}", retryable=True) from None
        tool = next((b for b in resp.content if b.type == "tool_use"), None)
        text = json.dumps(tool.input) if tool else "".join(getattr(b, "text", "") for b in resp.content)
        return Response(text=text, input_tokens=resp.usage.input_tokens, output_tokens=resp.usage.output_tokens)

    async def aclose(self) -> None:
        await self._client.close()


register("anthropic", AnthropicProvider)
