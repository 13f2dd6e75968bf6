"""`targen review RUN_DIR`: the review page. A local web server (127.0.0.1, a random token in its URL)
showing the run's fixed review sample one row at a time; each decision a reviewer makes is appended to
the run directory before the page is answered, so a killed server loses nothing and reopening continues
where the reviewer stopped."""

from __future__ import annotations

import asyncio
import errno
import hmac
import json
import secrets
import time
from pathlib import Path

from aiohttp import web

from ...errors import SpecError
from ..store import RunDir
from ..tasks import Task
from . import decisions as decisions_mod
from .sample import answer_text, key_of, sample

PAGE = Path(__file__).with_name("page.html")


class Review:
    """One reviewer's session over the sample: what the page shows and what it records."""

    def __init__(self, run: RunDir, reviewer: str, n: int | None, per_label: int | None):
        self.run, self.reviewer = run, reviewer
        self.task, rows = sample(run, n, per_label)
        self.labels = [] if self.task.span_answer else list(self.task.label_names)  # a span task: the answer
        rationales = self._rationales()
        self.rows = [_shown(self.task, r, rationales) for r in rows]
        self.ids = {r["id"] for r in self.rows}

    def _rationales(self) -> dict[str, str]:
        """Step 4's rationale of each corrected row (a single judge's; a panel's are in its lineage)."""
        table = self.run.read(self.run.stage_dir("correct"), columns=["id", "rationale"])
        return {} if table is None else dict(zip(table["id"].to_pylist(), table["rationale"].to_pylist(), strict=True))

    def state(self) -> dict:
        task, span = self.task, self.task.span_answer
        return {
            "task": task.name,
            "reviewer": self.reviewer,
            "labels": self.labels,
            "defects": list(decisions_mod.DEFECTS),
            "span": {"field": span.field, "source": span.source} if span else None,
            "rows": self.rows,
            "decided": self.decided(),
        }

    def decided(self) -> dict[str, dict]:
        """This reviewer's standing decisions, by row id, as the page shows them (label by name)."""
        mine = decisions_mod.read(self.run, [], self.ids, self.labels).get(self.reviewer, {})
        return {row: {**d, "label": None if d["label"] is None else self.labels[d["label"]]} for row, d in mine.items()}

    def record(self, body: dict) -> dict:
        """Append one decision (or an undo) to the reviewer's file; the file is read back for the answer."""
        row = str(body.get("id", ""))
        if row not in self.ids:
            raise web.HTTPBadRequest(text=f"id {row!r} is not in the review sample")
        if body.get("undo"):
            line = {"id": row, "undo": True}
        else:
            label, defects = body.get("label"), body.get("defects") or []
            if label is not None and label not in self.labels:
                raise web.HTTPBadRequest(text=f"label {label!r} is not one of {self.labels}")
            if not isinstance(defects, list) or set(defects) - set(decisions_mod.DEFECTS):
                raise web.HTTPBadRequest(text=f"defects must be some of {list(decisions_mod.DEFECTS)}")
            answer, note = body.get("answer"), body.get("note") or None
            line = {"id": row, "label": label, "answer": answer, "defects": defects, "note": note}
        line |= {"reviewer": self.reviewer, "at": round(time.time(), 3)}
        self.run.append_bytes(self.run.review_decisions(self.reviewer), (json.dumps(line) + "\n").encode())
        return {"decided": self.decided()}


def _shown(task: Task, row: dict, rationales: dict[str, str]) -> dict:
    """A sample row as the page lays it out: the task's fields by type, the labels, each judge's word."""
    ident, labels = row[key_of(task)], task.label_names

    def name(label):
        return labels[label] if labels and label is not None else label

    judges = row.get(task.lineage_name("judges"))
    said = (
        json.loads(judges)
        if judges
        else [
            {
                "judge": row.get(task.lineage_name("judge_endpoint")),
                "label": name(row[task.lineage_name("final_label")]),
                "rationale": rationales.get(ident),
            }
        ]
    )
    fields = [f for f in task.record_schema if f.name not in ("idx", "label")]
    final, initial = name(row[task.lineage_name("final_label")]), name(row[task.lineage_name("initial_label")])
    if task.span_answer:  # no label space: what the reviewer checks is the final answer in its field
        final, initial = answer_text(row[task.span_answer.field]), None
    return {
        "id": ident,
        "split": row["split"],
        "fields": [{"name": f.name, "type": str(f.type), "value": row[f.name]} for f in fields],
        "final": final,
        "initial": initial,
        "judges": said,
    }


def app(review: Review, token: str) -> web.Application:
    """The page and its two calls, each refused without the session's token."""

    @web.middleware
    async def tokened(request: web.Request, handler):
        if not hmac.compare_digest(request.query.get("token", ""), token):
            raise web.HTTPForbidden(text="this review page needs the token printed by `targen review`")
        return await handler(request)

    html = PAGE.read_text()

    async def page(_: web.Request) -> web.Response:
        return web.Response(text=html, content_type="text/html")

    async def state(_: web.Request) -> web.Response:
        return web.json_response(review.state())

    async def decide(request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            raise web.HTTPBadRequest(text="a decision is a JSON object") from None
        return web.json_response(review.record(body if isinstance(body, dict) else {}))

    application = web.Application(middlewares=[tokened])
    application.add_routes([web.get("/", page), web.get("/state", state), web.post("/decide", decide)])
    return application


def serve(run_dir: str, reviewer: str, port: int, n: int | None, per_label: int | None) -> int:
    """Serve the page until interrupted; prints its URL (with the token) first."""
    review, token = Review(RunDir(run_dir), reviewer, n, per_label), secrets.token_urlsafe(16)

    async def main() -> None:
        runner = web.AppRunner(app(review, token), access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, "127.0.0.1", port).start()
        except OSError as e:
            await runner.cleanup()
            if e.errno == errno.EADDRINUSE:
                raise SpecError(f"review: port {port} on 127.0.0.1 is in use (--port 0 takes a free one)") from None
            raise SpecError(f"review: cannot listen on 127.0.0.1:{port}: {e.strerror}") from None
        bound = runner.addresses[0][1]
        done = len(review.decided())
        print(f"review: http://127.0.0.1:{bound}/?token={token}", flush=True)
        print(f"{len(review.rows)} rows, {done} decided by {reviewer}; each decision is on disk once made", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    return 0
