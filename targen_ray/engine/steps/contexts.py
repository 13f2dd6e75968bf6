"""Step 1: from the task description alone, a list of settings to spread the dataset over."""

from __future__ import annotations

import pyarrow as pa

from .base import Step

PER_CALL = 20  # contexts asked for in one request: short items, so one answer holds many


class ContextsStep(Step):
    name = "contexts"
    fields = [("contexts", pa.list_(pa.string()))]

    def schema(self) -> dict:
        return {
            "type": "object",
            "properties": {
                "contexts": {"type": "array", "items": {"type": "string"}, "minItems": PER_CALL, "maxItems": PER_CALL}
            },
            "required": ["contexts"],
            "additionalProperties": False,
        }

    def variables(self, row: dict) -> dict:
        return {"n": row["n"]}

    def parse(self, answer: dict, row: dict) -> dict | str:
        items = [c.strip() for c in answer["contexts"] if c.strip()]
        return {"contexts": items} if items else "no contexts in the answer"
