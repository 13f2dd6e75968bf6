"""What every TarGEN step shares: prompt -> request -> validated JSON -> output row or reject row.

A step only says what it asks (`variables`, `schema`) and how to read the answer (`parse`). Failures
become data: the row comes back with `error` and `raw` set, and the stage writes it to rejects/.
"""

from __future__ import annotations

import json
from typing import ClassVar

import jsonschema
import pyarrow as pa

from ..answers import extract
from ..errors import BudgetExhausted, FatalError, ProviderError
from ..ids import stable_id
from ..job import Job
from ..pool import Pool, Usage
from ..providers import Request, Response

SYSTEM = (
    "You write data for a machine-learning dataset. Reply with one JSON object that matches the "
    "requested schema and nothing else."
)


class Step:
    name: ClassVar[str]
    fields: ClassVar[list[tuple[str, pa.DataType]]]  # the columns this step adds to its input row

    def __init__(self, job: Job):
        self.job, self.spec, self.task = job, job.spec, job.task
        self.labels = list(job.spec.labels)
        self.max_tokens, self.temperature, self.top_p = job.sampling(self.name)
        self.ceiling = max(self.max_tokens, min(spec.params.max_tokens for _, spec in job.pool(self.name)))
        self._renderer = job.prompts.renderer()
        self._validator = jsonschema.Draft202012Validator(self.schema())

    # -- what a step defines -------------------------------------------------------------------------
    def schema(self) -> dict:
        raise NotImplementedError

    def variables(self, row: dict) -> dict:
        raise NotImplementedError

    def request_schema(self, row: dict) -> dict:
        """The schema sent for this row: `schema()`, with what the row asks for in descriptions."""
        return self.schema()

    def parse(self, answer: dict, row: dict) -> dict | str:
        """The step's fields from a schema-valid answer, or the reason the answer is unusable."""
        raise NotImplementedError

    # -- shared machinery ----------------------------------------------------------------------------
    @classmethod
    def output_schema(cls, input_schema: pa.Schema) -> pa.Schema:
        extra = [
            *cls.fields,
            *[(f"{cls.name}_{k}", t) for k, t in USAGE_FIELDS],
            ("error", pa.string()),
            ("fatal", pa.string()),  # why the stage must stop on this row: "budget" or "error"
        ]
        return pa.schema([*input_schema, *[pa.field(k, t) for k, t in extra]])

    def request(self, row: dict, attempt: int, room: int = 1) -> Request:
        """`room`: a multiple of the step's max_tokens (up to the endpoint's ceiling), after a truncation."""
        prompt = self._renderer.render(
            self.name, task=self.task.name, description=self.spec.description, **self.variables(row)
        )
        return Request(
            system=SYSTEM,
            prompt=prompt,
            schema_name=f"{self.task.name}_{self.name}",
            schema=self.request_schema(row),
            max_tokens=min(self.max_tokens * room, self.ceiling),
            temperature=self.temperature,
            top_p=self.top_p,
            seed=int(stable_id(row["id"], *([row["sample"]] if row.get("sample") else []), attempt), 16) % 2**31,
        )

    async def run(self, row: dict, pool: Pool) -> dict:
        usage, raw, reason, endpoint, room = Usage(), "", "", None, 1
        for attempt in range(self.spec.parse_retries + 1):
            try:
                response, endpoint = await pool.call(self.request(row, attempt, room), usage)
            except BudgetExhausted:
                return self.row(row, None, usage, None, "", "budget exhausted", fatal="budget")
            except FatalError as e:  # no request can succeed: the stage stops on this row
                return self.row(row, None, usage, None, "", str(e), fatal="error")
            except ProviderError as e:
                reason = f"provider error: {e} (after {int(usage.total('requests'))} attempts)"
                break
            raw = response.text
            parsed = self.answer(response, row)
            if isinstance(parsed, str):
                reason = parsed
                if response.finish_reason == "length" and room == 1:  # once, with twice the room
                    reason, room = f"truncated at max_tokens ({parsed})", 2
                continue
            return self.row(row, parsed, usage, endpoint, raw, None)
        return self.row(row, None, usage, endpoint, raw, reason)

    def answer(self, response: Response, row: dict) -> dict | str:
        """The step's fields from a response, or why it is unusable (a refusal, no choice, not JSON, ...)."""
        if response.refusal:
            return f"refused: {' '.join(response.refusal.split())[:200]}"
        if response.finish_reason == "empty":
            return "empty response: the server sent no choice"
        return self.check(response.text, row, response.reasoning)

    def check(self, raw: str, row: dict, reasoning: str | None = None) -> dict | str:
        """The step's fields from an answer's text, or why it is unusable (not JSON, off-schema, ...)."""
        answer = extract(raw, reasoning)
        if isinstance(answer, str):
            return answer
        problem = jsonschema.exceptions.best_match(self._validator.iter_errors(answer))
        if problem is not None:
            where = "/".join(map(str, problem.absolute_path)) or "(root)"
            return f"schema violation: at {where}: {problem.message[:200]}"
        return self.parse(answer, row)

    def row(
        self,
        row: dict,
        fields: dict | None,
        usage: Usage,
        endpoint,
        raw: str,
        error: str | None,
        fatal: str | None = None,
    ) -> dict:
        """The input row plus this step's fields and its ledger; `endpoint` is the one that answered last."""
        meta = {
            "endpoint": endpoint.name if endpoint else None,
            "model": endpoint.spec.model if endpoint else None,
            "requests": int(usage.total("requests")),
            "input_tokens": int(usage.total("input_tokens")),
            "output_tokens": int(usage.total("output_tokens")),
            "usd": usage.total("usd"),
            "ledger": json.dumps(usage.by_endpoint),
            "raw": raw,
        }
        fields = fields or dict.fromkeys(k for k, _ in self.fields)
        usage_cols = {f"{self.name}_{k}": v for k, v in meta.items()}
        return {**row, **fields, **usage_cols, "error": error, "fatal": fatal}


USAGE_FIELDS = [
    ("endpoint", pa.string()),
    ("model", pa.string()),
    ("requests", pa.int32()),
    ("input_tokens", pa.int64()),
    ("output_tokens", pa.int64()),
    ("usd", pa.float64()),
    ("ledger", pa.string()),  # JSON: per endpoint, every attempt's requests, tokens, USD, 429s, errors
    ("raw", pa.string()),  # the last answer's text, kept for audit and for rejects
]
