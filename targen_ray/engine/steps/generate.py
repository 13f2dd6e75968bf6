"""Step 3: one seed plus a target label -> one task instance built so that its label is the target."""

from __future__ import annotations

import json

import pyarrow as pa

from .base import Step


class GenerateStep(Step):
    name = "generate"
    fields = [("instance", pa.string()), ("initial_label", pa.int64())]

    def schema(self) -> dict:
        inst = self.task.instance_schema
        return {
            **inst,
            "properties": {**inst["properties"], "label": {"type": "string", "enum": self.labels}},
            "required": [*inst["required"], "label"],
        }

    def request_schema(self, row: dict) -> dict:
        """The target label in the label's description: the model sees what it must write, and a rehearsal
        server (the fake) answers any task from the request alone."""
        schema = self.schema()
        label = {**schema["properties"]["label"], "description": f"Target label: {self.labels[row['target_label']]}"}
        return {**schema, "properties": {**schema["properties"], "label": label}}

    def variables(self, row: dict) -> dict:
        target = row["target_label"]
        return {
            "context": row["context"],
            "seed": row["seed"],
            "seed_noun": self.task.seed_noun,
            "label": self.labels[target],
            "labels": self.labels,
            "guidance": self.task.guidance.get(self.task.label_names[target], ""),
        }

    def parse(self, answer: dict, row: dict) -> dict | str:
        fields = self.task.build(row["seed"], answer)
        problem = self.task.check(fields)
        if problem:
            return f"{self.task.name} check: {problem}"
        return {
            "instance": json.dumps(fields, ensure_ascii=False),
            "initial_label": self.labels.index(answer["label"]),
        }
