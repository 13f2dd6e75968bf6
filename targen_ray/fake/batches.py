"""The fake server's Batch APIs: OpenAI's `/v1/files` + `/v1/batches` and Anthropic's `/v1/messages/batches`.

A batch ends `delay_s` after it is created (OpenAI's completed count grows meanwhile; Anthropic's counts
move only at the end, as the real API's do). When it ends, each line is answered by the same content as an
online request, or fails: `error_rate` of the lines error, and `expire_rate` of them are never reached,
as when a batch runs out of its 24 hours (the OpenAI batch then ends `expired`). Each creation is one
`/log` entry naming the batch and its custom_ids, so tests can tell that nothing was submitted twice.
A batch cancelled before it ends ends at once, every line cancelled.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from dataclasses import dataclass

from aiohttp import web

from .batch_wire import anthropic_batch, anthropic_line, openai_line
from .wire import Call, FakeError, anthropic_body, anthropic_call, openai_body, openai_call

OPENAI_LIMITS = (50_000, 200_000_000)  # requests, bytes of one input file
ANTHROPIC_LIMITS = (100_000, 256_000_000)


@dataclass(frozen=True)
class BatchConfig:
    delay_s: float = 0.0  # from creation until a batch ends
    error_rate: float = 0.0  # share of lines answered with an error
    expire_rate: float = 0.0  # share of lines the batch never reaches before it expires

    def __post_init__(self):
        if not (0 <= self.error_rate and 0 <= self.expire_rate and self.error_rate + self.expire_rate <= 1):
            raise ValueError("batch error and expire rates must be shares that add up to at most 1")


@dataclass
class _Batch:
    api: str
    key: str
    lines: list[dict]
    created: float
    base_url: str  # where results are fetched (Anthropic's results_url)
    input_file_id: str = ""
    metadata: dict | None = None
    results: list[dict] | None = None  # once ended: per line {custom_id, fate, call, answer}
    cancelled_at: float | None = None


class Batches:
    def __init__(self, server, config: BatchConfig):
        """`server`: the FakeServer whose keys, content, stats and log the batches share."""
        self.server, self.config = server, config
        self.files: dict[str, tuple[str, bytes]] = {}  # id -> (filename, content)
        self.batches: dict[str, _Batch] = {}
        seed = server.config.fault_seed
        self._fates = random.Random(None if seed is None else f"{seed}:batch")

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/files", self.upload)
        app.router.add_get("/v1/files/{id}/content", self.file_content)
        app.router.add_post("/v1/batches", self.openai_create)
        app.router.add_get("/v1/batches", self.openai_list)
        app.router.add_get("/v1/batches/{id}", self.openai_retrieve)
        app.router.add_post("/v1/batches/{id}/cancel", self.openai_cancel)
        app.router.add_post("/v1/messages/batches", self.anthropic_create)
        app.router.add_get("/v1/messages/batches/{id}", self.anthropic_retrieve)
        app.router.add_get("/v1/messages/batches/{id}/results", self.anthropic_results)
        app.router.add_post("/v1/messages/batches/{id}/cancel", self.anthropic_cancel)

    # -- shared ----------------------------------------------------------------------------------------
    def _key(self, api: str, request: web.Request) -> str:
        auth = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        key = request.headers.get("x-api-key") or auth
        if not key or key in self.server.config.invalid_keys:
            raise FakeError(api, 401, "authentication_error", "invalid API key")
        return key

    def _create(self, api: str, key: str, lines: list[dict], request: web.Request, limits: tuple[int, int]) -> str:
        size = sum(len(json.dumps(line)) + 1 for line in lines)
        if not lines or len(lines) > limits[0] or size > limits[1]:
            raise FakeError(
                api,
                400,
                "invalid_request_error",
                f"a batch takes 1 to {limits[0]} requests and "
                f"{limits[1]} bytes, got {len(lines)} requests and {size} bytes",
            )
        ids = [line["custom_id"] for line in lines]
        if len(set(ids)) != len(ids):
            raise FakeError(api, 400, "invalid_request_error", "custom_id values must be unique within a batch")
        batch_id = f"batch_{uuid.uuid4().hex[:16]}" if api == "openai" else f"msgbatch_{uuid.uuid4().hex[:16]}"
        self.batches[batch_id] = _Batch(api, key, lines, time.time(), f"{request.scheme}://{request.host}")
        self.server.stats[f"{api}.batches"] += 1
        self.server.stats[f"{api}.batch_lines"] += len(lines)
        params = lines[0].get("body") or lines[0].get("params") or {}
        schema = openai_call(params, key) if api == "openai" else anthropic_call(params, key)
        self.server.log.append(
            {
                "t": time.time(),
                "api": f"{api}.batch",
                "schema": schema.schema_name,
                "seed": None,
                "status": 200,
                "fault": None,
                "batch": batch_id,
                "custom_ids": ids,
            }
        )
        return batch_id

    def _batch(self, api: str, batch_id: str) -> _Batch:
        batch = self.batches.get(batch_id)
        if batch is None or batch.api != api:
            raise FakeError(api, 404, "not_found_error", f"no batch {batch_id}")
        if batch.results is None and time.time() - batch.created >= self.config.delay_s:
            batch.results = [self._process(batch, line) for line in batch.lines]
            self._fates.shuffle(batch.results)  # results come in no particular order
        return batch

    def _cancel(self, api: str, batch_id: str) -> None:
        """A batch not ended yet ends at once, none of its lines processed; an ended one stays as it is."""
        batch = self._batch(api, batch_id)
        if batch.results is None:
            batch.cancelled_at = time.time()
            batch.results = [{"custom_id": line["custom_id"], "fate": "cancelled"} for line in batch.lines]
            self.server.stats[f"{api}.batches_cancelled"] += 1
            self.server.stats[f"{api}.batch_cancelled"] += len(batch.lines)

    def _process(self, batch: _Batch, line: dict) -> dict:
        """One line's fate when its batch ends: answered, errored, or never reached (expired)."""
        u = self._fates.random()
        fate = (
            "expired"
            if u < self.config.expire_rate
            else "errored"
            if u < self.config.expire_rate + self.config.error_rate
            else "succeeded"
        )
        out = {"custom_id": line["custom_id"], "fate": fate}
        self.server.stats[f"{batch.api}.batch_{fate}"] += 1
        if fate == "succeeded":
            params = line["body"] if batch.api == "openai" else line["params"]
            call: Call = openai_call(params, batch.key) if batch.api == "openai" else anthropic_call(params, batch.key)
            try:
                answer = self.server.content(call)
            except FakeError as e:  # e.g. a step this server does not know: that line errors
                return {**out, "fate": "errored", "message": str(e)}
            model = params["model"]
            out["body"] = (
                openai_body(call, answer, model, self._fates)
                if batch.api == "openai"
                else anthropic_body(call, answer, model)
            )
        return out

    def _counts(self, batch: _Batch) -> dict[str, int]:
        fates = [r["fate"] for r in batch.results or []]
        return {f: fates.count(f) for f in ("succeeded", "errored", "expired", "cancelled")}

    # -- OpenAI ----------------------------------------------------------------------------------------
    async def upload(self, request: web.Request) -> web.Response:
        self._key("openai", request)
        form = await request.post()
        upload = form.get("file")
        if form.get("purpose") != "batch" or not hasattr(upload, "file"):
            raise FakeError("openai", 400, "invalid_request_error", "expected a file with purpose 'batch'")
        file_id = f"file-{uuid.uuid4().hex[:16]}"
        self.files[file_id] = (upload.filename, upload.file.read())
        return web.json_response(self._file(file_id, "batch"))

    def _file(self, file_id: str, purpose: str) -> dict:
        name, content = self.files[file_id]
        return {
            "id": file_id,
            "object": "file",
            "bytes": len(content),
            "created_at": int(time.time()),
            "filename": name,
            "purpose": purpose,
            "status": "processed",
        }

    async def file_content(self, request: web.Request) -> web.Response:
        self._key("openai", request)
        file_id = request.match_info["id"]
        if file_id not in self.files:
            raise FakeError("openai", 404, "not_found_error", f"no file {file_id}")
        return web.Response(body=self.files[file_id][1], content_type="application/octet-stream")

    async def openai_create(self, request: web.Request) -> web.Response:
        key = self._key("openai", request)
        body = await request.json()
        if body.get("endpoint") != "/v1/chat/completions" or body.get("completion_window") != "24h":
            raise FakeError("openai", 400, "invalid_request_error", "endpoint must be /v1/chat/completions, window 24h")
        _, content = self.files.get(body.get("input_file_id"), ("", None))
        if content is None:
            raise FakeError("openai", 400, "invalid_request_error", "unknown input_file_id")
        lines = [json.loads(raw) for raw in content.decode().splitlines() if raw.strip()]
        batch_id = self._create("openai", key, lines, request, OPENAI_LIMITS)
        self.batches[batch_id].input_file_id = body["input_file_id"]
        self.batches[batch_id].metadata = body.get("metadata")
        return web.json_response(self._openai(batch_id))

    async def openai_retrieve(self, request: web.Request) -> web.Response:
        self._key("openai", request)
        return web.json_response(self._openai(request.match_info["id"]))

    async def openai_cancel(self, request: web.Request) -> web.Response:
        self._key("openai", request)
        self._cancel("openai", request.match_info["id"])
        return web.json_response(self._openai(request.match_info["id"]))

    async def openai_list(self, request: web.Request) -> web.Response:
        """Newest first, a page of `limit` after the id `after`, as the real list paginates."""
        self._key("openai", request)
        newest = sorted((b.created, i) for i, b in self.batches.items() if b.api == "openai")[::-1]
        ids = [i for _, i in newest]
        after = request.query.get("after")
        if after in ids:
            ids = ids[ids.index(after) + 1 :]
        page = ids[: int(request.query.get("limit", 20))]
        return web.json_response(
            {
                "object": "list",
                "data": [self._openai(i) for i in page],
                "first_id": page[0] if page else None,
                "last_id": page[-1] if page else None,
                "has_more": len(ids) > len(page),
            }
        )

    def _openai(self, batch_id: str) -> dict:
        batch = self._batch("openai", batch_id)
        n, created = len(batch.lines), int(batch.created)
        out = {
            "id": batch_id,
            "object": "batch",
            "endpoint": "/v1/chat/completions",
            "input_file_id": batch.input_file_id,
            "completion_window": "24h",
            "created_at": created,
            "expires_at": created + 86_400,
            "metadata": batch.metadata,
        }
        if batch.results is None:
            share = (time.time() - batch.created) / max(self.config.delay_s, 1e-9)
            return {
                **out,
                "status": "in_progress",
                "request_counts": {"total": n, "completed": int(n * share), "failed": 0},
            }
        counts = self._counts(batch)
        output = [openai_line(r) for r in batch.results if r["fate"] == "succeeded"]
        errors = [openai_line(r) for r in batch.results if r["fate"] != "succeeded"]
        return {
            **out,
            "status": "cancelled" if batch.cancelled_at else "expired" if counts["expired"] else "completed",
            "request_counts": {
                "total": n,
                "completed": counts["succeeded"],
                "failed": counts["errored"] + counts["expired"] + counts["cancelled"],
            },
            "output_file_id": self._result_file(f"{batch_id}-output", output),
            "error_file_id": self._result_file(f"{batch_id}-errors", errors),
        }

    def _result_file(self, name: str, lines: list[dict]) -> str | None:
        """A result file, made once per batch (so its id stays the same on every retrieve)."""
        if not lines:
            return None
        file_id = f"file-{name}"
        if file_id not in self.files:
            self.files[file_id] = (f"{name}.jsonl", "".join(json.dumps(line) + "\n" for line in lines).encode())
        return file_id

    # -- Anthropic -------------------------------------------------------------------------------------
    async def anthropic_create(self, request: web.Request) -> web.Response:
        key = self._key("anthropic", request)
        body = await request.json()
        batch_id = self._create("anthropic", key, body.get("requests") or [], request, ANTHROPIC_LIMITS)
        return web.json_response(self._anthropic(batch_id))

    async def anthropic_retrieve(self, request: web.Request) -> web.Response:
        self._key("anthropic", request)
        return web.json_response(self._anthropic(request.match_info["id"]))

    async def anthropic_cancel(self, request: web.Request) -> web.Response:
        self._key("anthropic", request)
        self._cancel("anthropic", request.match_info["id"])
        return web.json_response(self._anthropic(request.match_info["id"]))

    def _anthropic(self, batch_id: str) -> dict:
        batch = self._batch("anthropic", batch_id)
        return anthropic_batch(batch_id, batch, self._counts(batch))

    async def anthropic_results(self, request: web.Request) -> web.Response:
        self._key("anthropic", request)
        batch = self._batch("anthropic", request.match_info["id"])
        if batch.results is None:
            raise FakeError("anthropic", 400, "invalid_request_error", "the batch has not ended")
        out = [anthropic_line(r) for r in batch.results]
        return web.Response(text="".join(out), content_type="application/binary")
