"""Step 4: self-correction. An evaluator re-reads each instance and keeps or changes its label."""

from __future__ import annotations

import json

import pyarrow as pa

from .base import Step


class CorrectStep(Step):
    name = "correct"
    fields = [("final_label", pa.int64()), ("corrected", pa.bool_()), ("rationale", pa.string())]

    def schema(self) -> dict:
        extra = self.task.judge_schema or {}
        return {
            "type": "object",
            "properties": {
                "rationale": {"type": "string"},
                **extra,
                "label": {"type": "string", "enum": self.labels},
            },
            "required": ["rationale", *extra, "label"],
            "additionalProperties": False,
        }

    def request_schema(self, row: dict) -> dict:
        """The proposed label (and answer) in descriptions, so a rehearsal server reads them off the request."""
        schema = self.schema()
        props = dict(schema["properties"])
        props["label"] = {**props["label"], "description": f"Proposed label: {self.labels[row['initial_label']]}"}
        if self.task.answer_of is not None and "answer" in props:
            proposed = self.task.answer_of(json.loads(row["instance"]))
            props["answer"] = {**props["answer"], "description": f"Proposed answer: {proposed}"}
        return {**schema, "properties": props}

    def variables(self, row: dict) -> dict:
        return {
            "instance": json.loads(row["instance"]),
            "label": self.labels[row["initial_label"]],
            "labels": self.labels,
        }

    def parse(self, answer: dict, row: dict) -> dict | str:
        final = self.labels.index(answer["label"])
        out = {"final_label": final, "corrected": final != row["initial_label"], "rationale": answer["rationale"]}
        if self.task.revise is not None:  # the judge may also fix the instance itself (e.g. ReCoRD's answer)
            fields = json.loads(row["instance"])
            revised = self.task.revise(fields, answer)
            if isinstance(revised, str):
                return f"{self.task.name} check: {revised}"
            if revised != fields:
                out.update(instance=json.dumps(revised, ensure_ascii=False), corrected=True)
        return out
