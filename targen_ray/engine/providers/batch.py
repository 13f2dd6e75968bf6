"""Provider Batch APIs: OpenAI's Batch API (a JSONL file of requests) and Anthropic's Message Batches.

Both take many requests at once, answer within 24 hours at half the online price, and return results
keyed by the `custom_id` each request carried, in no particular order. A client here submits one
batch, reads its status, and reads its results; the batch stage decides what to send and when.
Request bodies are the online providers' own, so a batch asks exactly what an online call would.
"""

from __future__ import annotations

import importlib
import json
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from ...config import EndpointSpec
from ...config.kinds import KINDS, load
from ...errors import FatalError, ProviderError, RunError
from .anthropic import message_body
from .anthropic import to_response as message_response
from .base import UNREADABLE, Request, Response, RetryPolicy, api_key, status_error
from .openai import chat_body
from .openai import to_response as chat_response

# A status or results read the provider refused (429, 5xx) or dropped is tried this often, backing off
# from 1 s up to a minute.
READS = RetryPolicy(attempts=8, base_s=1.0, cap_s=60.0)


@dataclass(frozen=True)
class BatchStatus:
    state: str  # the provider's word: in_progress, completed, expired, ended, ...
    ended: bool  # processing is over: results can be read
    succeeded: int  # lines answered so far (as far as the provider says while it works)
    errored: int  # lines that failed, expired or were cancelled


@dataclass(frozen=True)
class Line:
    """One request's outcome: an answer, or why there is none ("expired", "cancelled", "errored: ...")."""

    custom_id: str
    response: Response | None = None
    error: str | None = None


class BatchClient(ABC):
    """SDK retries are off: the batch stage retries reads itself, and a create only when the provider
    answered with an error (so that no batch was made)."""

    SDK: str  # the SDK's module, imported on first use
    CLIENT: str  # its synchronous client class
    max_requests: int
    max_bytes: int

    def __init__(self, name: str, spec: EndpointSpec):
        self.name, self.spec = name, spec
        self._sdk = importlib.import_module(self.SDK)
        self._client = getattr(self._sdk, self.CLIENT)(
            api_key=api_key(name, spec), base_url=spec.base_url, timeout=spec.timeout_s, max_retries=0
        )
        self.max_requests = min(spec.batch.max_requests or self.max_requests, self.max_requests)
        self.max_bytes = min(int((spec.batch.max_mb or 1e9) * 1e6), self.max_bytes)

    @staticmethod
    @abstractmethod
    def line(model: str, custom_id: str, request: Request, mode: str) -> str:
        """One request, in a structured-output mode, as a line of the provider's batch format (its size
        counts toward max_bytes)."""

    @abstractmethod
    def submit(self, lines: pa.ChunkedArray, label: str) -> str:
        """Create a batch of `lines` (strings made by `line`); its id."""

    def find(self, label: str, since: float) -> str | None:
        """The id of a batch submitted with `label` at or after `since` (epoch seconds), when the provider can
        tell: a create whose answer was lost (a dropped connection, a killed driver) may still have made one."""
        return None

    @abstractmethod
    def status(self, batch_id: str) -> BatchStatus: ...

    @abstractmethod
    def results(self, batch_id: str) -> Iterator[Line]: ...

    @abstractmethod
    def cancel(self, batch_id: str) -> None:
        """Stop a batch: lines not yet processed are not paid for."""

    def _call(self, sdk, fn: Callable, *args, **kwargs):
        """An SDK call, its errors as the provider-neutral ones (401: fatal; 429, 5xx: retryable)."""
        try:
            return fn(*args, **kwargs)
        except sdk.APIStatusError as e:
            raise status_error(self.name, e.status_code, e.response.headers) from None
        except sdk.APIConnectionError as e:
            raise ProviderError(f"{type(e).__name__} from {self.name!r}", retryable=True) from None


class OpenAIBatch(BatchClient):
    SDK, CLIENT = "openai", "OpenAI"
    max_requests = 50_000
    max_bytes = 200_000_000
    ENDPOINT = "/v1/chat/completions"
    ENDED = ("completed", "expired", "cancelled", "failed")

    @staticmethod
    def line(model: str, custom_id: str, request: Request, mode: str = "json_schema") -> str:
        body = chat_body(model, request, mode)
        return json.dumps({"custom_id": custom_id, "method": "POST", "url": OpenAIBatch.ENDPOINT, "body": body})

    def submit(self, lines: pa.ChunkedArray, label: str) -> str:
        data = joined(lines, b"\n", tail=b"\n")
        file = self._call(self._sdk, self._client.files.create, file=(f"{label}.jsonl", data), purpose="batch")
        batch = self._call(
            self._sdk,
            self._client.batches.create,
            input_file_id=file.id,
            endpoint=self.ENDPOINT,
            completion_window="24h",
            metadata={"targen": label[:512]},
        )
        return batch.id

    def find(self, label: str, since: float) -> str | None:
        """Batches carry `metadata.targen` = label; the list is newest first, so the search stops at batches
        made well before `since` (10 minutes of slack for clock skew)."""

        def search() -> str | None:
            for b in self._client.batches.list(limit=100):
                if (b.metadata or {}).get("targen") == label:
                    return b.id
                if b.created_at < since - 600:
                    return None
            return None

        return self._call(self._sdk, search)

    def status(self, batch_id: str) -> BatchStatus:
        b = self._call(self._sdk, self._client.batches.retrieve, batch_id)
        counts = b.request_counts
        return BatchStatus(
            b.status, b.status in self.ENDED, counts.completed if counts else 0, counts.failed if counts else 0
        )

    def cancel(self, batch_id: str) -> None:
        self._call(self._sdk, self._client.batches.cancel, batch_id)

    def results(self, batch_id: str) -> Iterator[Line]:
        """The output file's answers, then the error file's lines (errored, and, when the batch expired or
        was cancelled, every line it did not reach)."""
        from openai.types.chat import ChatCompletion

        b = self._call(self._sdk, self._client.batches.retrieve, batch_id)
        for file_id in (b.output_file_id, b.error_file_id):
            if not file_id:
                continue
            text = self._call(self._sdk, self._client.files.content, file_id).text
            for raw in text.splitlines():
                if not raw.strip():
                    continue
                item = json.loads(raw)
                custom_id, response, error = item["custom_id"], item.get("response") or {}, item.get("error")
                if response.get("status_code") == 200:
                    try:
                        yield Line(custom_id, chat_response(ChatCompletion.model_validate(response["body"])))
                    except (*UNREADABLE, self._sdk.APIResponseValidationError) as e:
                        yield Line(custom_id, error=f"errored: unreadable answer ({type(e).__name__})")
                    continue
                error = error or (response.get("body") or {}).get("error") or {}
                code = error.get("code") or f"HTTP {response.get('status_code')}"
                kind = {"batch_expired": "expired", "batch_cancelled": "cancelled"}.get(code)
                yield Line(custom_id, error=kind or f"errored: {code}: {str(error.get('message', ''))[:200]}")


class AnthropicBatch(BatchClient):
    SDK, CLIENT = "anthropic", "Anthropic"
    max_requests = 100_000
    max_bytes = 256_000_000

    @staticmethod
    def line(model: str, custom_id: str, request: Request, mode: str = "tools") -> str:
        return json.dumps({"custom_id": custom_id, "params": message_body(model, request, mode)})

    def submit(self, lines: pa.ChunkedArray, label: str) -> str:
        """The request body is built from the lines as they are, not parsed into request dicts for the SDK's
        `messages.batches.create` to serialise again: at 256 MB that would be gigabytes of Python objects."""
        from anthropic.types.messages import MessageBatch

        body = joined(lines, b",", head=b'{"requests":[', tail=b"]}")
        headers = {"Content-Type": "application/json"}
        post = self._client.post
        return self._call(
            self._sdk, post, "/v1/messages/batches", cast_to=MessageBatch, content=body, options={"headers": headers}
        ).id

    def status(self, batch_id: str) -> BatchStatus:
        b = self._call(self._sdk, self._client.messages.batches.retrieve, batch_id)
        c = b.request_counts
        return BatchStatus(
            b.processing_status, b.processing_status == "ended", c.succeeded, c.errored + c.canceled + c.expired
        )

    def cancel(self, batch_id: str) -> None:
        self._call(self._sdk, self._client.messages.batches.cancel, batch_id)

    def results(self, batch_id: str) -> Iterator[Line]:
        for item in self._call(self._sdk, self._client.messages.batches.results, batch_id):
            result = item.result
            if result.type == "succeeded":
                try:
                    yield Line(item.custom_id, message_response(result.message))
                except UNREADABLE as e:
                    yield Line(item.custom_id, error=f"errored: unreadable answer ({type(e).__name__})")
            elif result.type == "errored":
                error = result.error.error
                yield Line(item.custom_id, error=f"errored: {error.type}: {error.message[:200]}")
            else:
                yield Line(item.custom_id, error={"canceled": "cancelled"}.get(result.type, result.type))


def joined(lines: pa.ChunkedArray, sep: bytes, head: bytes = b"", tail: bytes = b"") -> bytes:
    """`head` + the lines joined by `sep` + `tail`, joined by Arrow per chunk: no Python string per line."""
    pieces = [head]
    for chunk in (c for c in lines.chunks if len(c)):
        whole = pa.ListArray.from_arrays(pa.array([0, len(chunk)], pa.int32()), chunk)
        part = pc.binary_join(whole, sep.decode())[0].as_buffer()
        pieces += [sep, part] if len(pieces) > 1 else [part]
    return b"".join([*pieces, tail])


def build_batch_client(name: str, spec: EndpointSpec) -> BatchClient:
    """The batch client of the endpoint's kind (config/kinds.py)."""
    return load(KINDS[spec.provider].batch)(name, spec)


def call_api(name: str, call: Callable, create: bool = False):
    """A call to a batch API: refused ones (429, 5xx, a dropped connection) are tried again with backoff;
    a bad key stops the run. A create whose connection dropped is not tried again: the batch may exist,
    and a second one would be paid for twice."""
    rng = random.Random()
    for attempt in range(READS.attempts):
        try:
            return call()
        except FatalError as e:
            raise RunError(str(e)) from None
        except ProviderError as e:
            if create and e.status is None:
                raise RunError(
                    f"endpoint {name!r}: the connection dropped while a batch was being created, so it may exist; "
                    "rerun to continue: the batch is looked up by its label (OpenAI), or its rows are sent again"
                ) from None
            if not e.retryable or attempt == READS.attempts - 1:
                raise RunError(f"endpoint {name!r}: {e}") from None
            time.sleep(getattr(e, "retry_after", None) or READS.delay(attempt, rng))
    raise AssertionError("unreachable")
