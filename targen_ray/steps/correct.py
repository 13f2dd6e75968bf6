"""Step 4: self-correction. An evaluator re-reads each instance and keeps or changes its label."""

from __future__ import annotations

import json

import pyarrow as pa

from .base import Step


class CorrectStep(Step):
    name = "correct"
    fields = [("final_label", pa.int64()), ("corrected", pa.bool_()), ("rationale", pa.string())]

    def schema(self) -> dict:
        return {
            "type": "object",
            "properties": {
                "rationale": {"type": "string"},
                "label": {"type": "string", "enum": self.labels},
            },
            "required": ["rationale", "label"],
            "additionalProperties": False,
        }

    def variables(self, row: dict) -> dict:
        return {
            "instance": json.loads(row["instance"]),
            "label": self.labels[row["initial_label"]],
            "labels": self.labels,
        }

    def parse(self, answer: dict, row: dict) -> dict | str:
        final = self.labels.index(answer["label"])
        return {
            "final_label": final,
            "corrected": final != row["initial_label"],
            "rationale": answer["rationale"],
        }
