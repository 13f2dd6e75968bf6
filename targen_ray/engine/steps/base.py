"""What every TarGEN step shares: a row's prompt and request, and the step's fields from its answer.

A step is a description: what it asks (`variables`, `schema`) and how to read the answer (`parse`).
It sends nothing: an executor (`execute/`) sends its requests and judges the answers with it.
"""

from __future__ import annotations

from typing import ClassVar

import jsonschema
import pyarrow as pa

from ..answers import extract
from ..ids import stable_id
from ..job import Job
from ..providers import Request, Response

SYSTEM = (
    "You write data for a machine-learning dataset. Reply with one JSON object that matches the "
    "requested schema and nothing else."
)


class Step:
    name: ClassVar[str]
    fields: ClassVar[list[tuple[str, pa.DataType]]]  # the columns this step adds to its input row

    def __init__(self, job: Job, stage: str | None = None):
        """`stage`: the stage this step runs as (default its own name; a panel judge's `correct@judge`)."""
        self.job, self.spec, self.task = job, job.spec, job.task
        self.stage = stage or self.name
        self.labels = list(job.spec.labels)
        self.max_tokens, self.temperature, self.top_p = job.sampling(self.stage)
        self.ceiling = max(self.max_tokens, min(spec.params.max_tokens for _, spec in job.pool(self.stage)))
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

    # -- shared: the request a row makes, and the step's fields from its answer -------------------------
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

    def fields_from(self, response: Response, row: dict) -> dict | str:
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
