"""The names every layer shares: splits, steps, a panel judge's stage, the embedding runtimes."""

from __future__ import annotations

# The embedding model's runtimes (dedup/encoders.py), the default first. openvino: at the precision OpenVINO
# picks for the CPU (bfloat16 where it has bf16 instructions, float32 elsewhere): ~3.6x torch here, at cosine
# >= 0.9999 to it, and stage 5's precision and recall; see BENCHMARKS.md.
BACKENDS = ("openvino", "openvino-f32", "openvino-int8", "onnx", "onnx-int8", "torch")

SPLITS = ("train", "validation", "test")
STEPS = ("contexts", "seeds", "generate", "correct")
JUDGE_MARK = "@"  # a panel judge's stage is step 4 at one endpoint: `correct@judge_a`


def step_of(stage: str) -> str:
    """The step a stage runs: its own name, or step 4 for a panel judge's stage."""
    return stage.split(JUDGE_MARK, 1)[0]


def judge_of(stage: str) -> str | None:
    """The endpoint a panel judge's stage sends to (None for any other stage)."""
    return stage.split(JUDGE_MARK, 1)[1] if JUDGE_MARK in stage else None
