"""Reference sets for decontamination: rows a user already has (e.g. the original SuperGLUE validation
and test sets) in the task's fields, as Parquet or JSONL. A synthetic row near one of them, or sharing
a long word n-gram with one, is dropped. The original ReCoRD and MultiRC JSONL nest several rows under
one passage, and WSC its spans under `target`; they are read as the flat rows Hugging Face's `super_glue`
loader makes of them. SQuAD's JSON is read as one row per question."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ...errors import SpecError
from .text import ngrams, row_text

SUFFIXES = (".parquet", ".jsonl", ".json")
BLOCK_ROWS = 2048  # synthetic rows per matrix product against the reference


@dataclass(frozen=True)
class Reference:
    ids: list[str]  # "<file name>:<row number>"
    texts: list[str]
    key: str  # content hash of the files and fields, so their embeddings are made once per run dir


def load(paths: list[Path], names: list[str]) -> Reference | None:
    """Every reference row's text; a missing file or field is one SpecError line naming it."""
    if not paths:
        return None
    ids, texts, digest = [], [], hashlib.sha256(json.dumps(names).encode())
    for path in paths:
        rows = read_rows(path, names)
        for k, row in enumerate(rows):
            texts.append(row_text(row, names))
            ids.append(f"{path.name}:{k}")
        digest.update(path.read_bytes())
    return Reference(ids, texts, digest.hexdigest()[:16])


def files(paths: list[Path]) -> list[Path]:
    """Reference files as given: a folder stands for its Parquet and JSONL files (the SuperGLUE download's
    train.jsonl, val.jsonl, ...), sorted; a folder with none is one SpecError line."""
    out = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix in SUFFIXES and p.is_file())
            if not found:
                raise SpecError(f"{path}: a reference folder with no {', '.join(SUFFIXES)} files")
            out += found
        else:
            out.append(path)
    return out


def split_of(row: dict, path: Path) -> str:
    """A reference row's split: its own `split`, else its file's name without a shard suffix (Hugging
    Face's and `targen publish`'s validation-00000-of-00002.parquet), where any file named train...
    (train.jsonl, SQuAD's train-v1.1.json) is the train split."""
    name = str(row.get("split") or re.sub(r"-\d+-of-\d+$", "", path.stem))
    return "train" if name.lower().startswith("train") else name


def read_rows(path: Path, names: list[str]) -> list[dict]:
    """The rows of a Parquet, JSONL or JSON file (SuperGLUE's nested lines and SQuAD's JSON flattened),
    each with the text fields `names`; an unreadable file or a missing field is one SpecError line
    naming the file (and the row)."""
    rows = []
    for k, line in enumerate(_read(path)):
        try:
            rows += _flatten(line)
        except (KeyError, TypeError, AttributeError) as e:
            raise SpecError(f"{path}: line {k + 1}: not an original SuperGLUE line ({e!r} missing or wrong)") from None
    for k, row in enumerate(rows):
        missing = [n for n in names if n not in row]
        if missing:
            raise SpecError(
                f"{path}: row {k + 1}: no field {missing[0]!r} (reference rows need the task's text fields: "
                f"{', '.join(names)})"
            )
    return rows


def _read(path: Path) -> list[dict]:
    if path.suffix not in SUFFIXES:
        raise SpecError(f"{path}: reference files are {', '.join(SUFFIXES)}, got {path.suffix or 'no suffix'}")
    try:
        if path.suffix == ".parquet":
            return pq.read_table(path).to_pylist()
        text = path.read_text()
        if path.suffix == ".json":  # one JSON document (SQuAD's layout, a list of rows), else JSON lines
            try:
                whole = json.loads(text)
            except ValueError:
                whole = None
            if isinstance(whole, dict) and isinstance(whole.get("data"), list):
                return _squad(path, whole["data"])
            if isinstance(whole, list):
                return whole
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    except FileNotFoundError:
        raise SpecError(f"{path}: reference file not found") from None
    except (OSError, ValueError, pa.ArrowException) as e:
        raise SpecError(f"{path}: cannot read reference file ({str(e).splitlines()[0]})") from None


def _squad(path: Path, articles: list[dict]) -> list[dict]:
    """SQuAD's JSON (data -> paragraphs -> qas) as one row per question, in the fields of a declared
    extractive task made by `targen init --extractive`: title, context, question, answers."""
    try:
        return [
            {
                "id": qa.get("id"),
                "title": article.get("title", ""),
                "context": paragraph["context"],
                "question": qa["question"],
                "answers": {
                    "text": [a["text"] for a in qa.get("answers", [])],  # none: an unanswerable (v2) question
                    "answer_start": [a["answer_start"] for a in qa.get("answers", [])],
                },
            }
            for article in articles
            for paragraph in article["paragraphs"]
            for qa in paragraph["qas"]
        ]
    except (KeyError, TypeError, AttributeError) as e:
        raise SpecError(f"{path}: not SQuAD's layout (data, paragraphs, qas): {e!r} missing or wrong") from None


def _flatten(line: dict) -> list[dict]:
    """One line of a file: itself, or the rows nested in an original SuperGLUE line: ReCoRD's queries
    (`end` inclusive), MultiRC's answers, WSC's spans under `target`. Only those layouts are taken
    apart: a row of the task's own fields (a span field is a dict too) stays as it is."""
    target, passage = line.get("target"), line.get("passage")
    if isinstance(target, dict) and "span1_text" in target:
        return [{**{k: v for k, v in line.items() if k != "target"}, **target}]
    if not isinstance(passage, dict) or not ("qas" in line or "questions" in passage):
        return [line]
    text, rest = passage["text"], {k: v for k, v in line.items() if k not in ("passage", "qas")}
    if "qas" in line:
        entities = sorted({text[e["start"] : e["end"] + 1] for e in passage.get("entities", [])})
        return [
            {
                **rest,
                "passage": text,
                "query": qa["query"],
                "entities": entities,
                "answers": sorted({a["text"] for a in qa.get("answers", [])}),  # none in a test split
                "idx": {"passage": line.get("idx"), "query": qa.get("idx")},
            }
            for qa in line["qas"]
        ]
    return [
        {
            **rest,
            "paragraph": text,
            "question": q["question"],
            "answer": a["text"],
            **({"label": a["label"]} if "label" in a else {}),
            "idx": {"paragraph": line.get("idx"), "question": q.get("idx"), "answer": a.get("idx")},
        }
        for q in passage["questions"]
        for a in q["answers"]
    ]


def nearest(x: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each row of `x`, its most similar reference row and the cosine (exact, in blocks)."""
    best, sim = np.zeros(len(x), np.int64), np.full(len(x), -1.0, np.float32)
    if len(ref) == 0:
        return best, sim
    for start in range(0, len(x), BLOCK_ROWS):
        sims = x[start : start + BLOCK_ROWS] @ ref.T
        best[start : start + BLOCK_ROWS] = sims.argmax(axis=1)
        sim[start : start + BLOCK_ROWS] = sims.max(axis=1)
    return best, sim


class NgramIndex:
    """The reference rows' word n-grams, sorted, to find the first one a synthetic text shares."""

    def __init__(self, texts: list[str], n: int):
        self.n = n
        grams = [ngrams(t, n) for t in texts]
        owner = np.repeat(np.arange(len(texts)), [len(g) for g in grams])
        hashes = np.concatenate(grams) if grams else np.zeros(0, np.uint64)
        order = np.argsort(hashes, kind="stable")
        self.hashes, self.owner = hashes[order], owner[order]

    def shared(self, text: str) -> int:
        """A reference row sharing an n-gram with `text`, or -1."""
        if not len(self.hashes):
            return -1
        h = ngrams(text, self.n)  # a text shorter than n words is one hash: it matches only a whole copy
        at = np.searchsorted(self.hashes, h).clip(max=len(self.hashes) - 1)
        hit = self.hashes[at] == h
        return int(self.owner[at[hit][0]]) if hit.any() else -1
