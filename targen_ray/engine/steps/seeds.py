"""Step 2: for one context, K raw seeds (passages, sentences, ...), not yet task instances."""

from __future__ import annotations

import pyarrow as pa

from .base import Step

MIN_WORDS = 5


class SeedsStep(Step):
    name = "seeds"
    fields = [("seeds", pa.list_(pa.string()))]

    def schema(self) -> dict:
        k = self.spec.seeds_per_context
        return {
            "type": "object",
            "properties": {"seeds": {"type": "array", "items": {"type": "string"}, "minItems": k, "maxItems": k}},
            "required": ["seeds"],
            "additionalProperties": False,
        }

    def variables(self, row: dict) -> dict:
        return {"context": row["context"], "n": row["n"], "seed_noun": self.task.seed_noun}

    def parse(self, answer: dict, row: dict) -> dict | str:
        seeds = [s.strip() for s in answer["seeds"] if len(s.split()) >= MIN_WORDS][: row["n"]]
        return {"seeds": seeds} if seeds else f"no {self.task.seed_noun} of at least {MIN_WORDS} words"
