"""A stage's running totals, the progress line and every other line the engine says: plain text, so it
reads the same in a terminal and in `ray job logs` (no TTY)."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc


@dataclass
class StageResult:
    kept: int = 0
    rejected: int = 0
    retried: int = 0
    requests: int = 0
    tokens: int = 0
    usd: float = 0.0
    rate_limited: int = 0

    def add(self, step: str, kept: pa.Table, rejected: pa.Table, retried: pa.Table | None = None) -> None:
        """Rows a stage finished, and (batch stages) rows it paid for and sends again."""
        self.kept += kept.num_rows
        self.rejected += rejected.num_rows
        self.retried += retried.num_rows if retried is not None else 0
        for t in (kept, rejected, *([retried] if retried is not None else [])):
            if t.num_rows == 0:
                continue
            self.requests += pc.sum(t[f"{step}_requests"]).as_py()
            self.tokens += pc.sum(t[f"{step}_input_tokens"]).as_py() + pc.sum(t[f"{step}_output_tokens"]).as_py()
            self.usd += pc.sum(t[f"{step}_usd"]).as_py()
            self.rate_limited += sum(
                e["rate_limited"] for cell in t[f"{step}_ledger"].to_pylist() for e in json.loads(cell).values()
            )


class Progress:
    def __init__(self, label: str, total: int, spent_before: float = 0.0, every_s: float = 5.0):
        self.label, self.total, self.spent_before, self.every_s = label, total, spent_before, every_s
        self.start = self.last = time.monotonic()
        self.shown = -1

    def update(self, r: StageResult, force: bool = False) -> None:
        now, done = time.monotonic(), r.kept + r.rejected
        if done == self.shown or (not force and now - self.last < self.every_s):
            return
        self.last, self.shown = now, done
        elapsed = max(now - self.start, 1e-9)
        eta = (self.total - done) * elapsed / done if done else float("nan")
        say(
            self.label,
            f"{done}/{self.total} rows ({r.rejected} rejected) | {r.requests / elapsed:.1f} req/s, "
            f"{r.tokens / elapsed:,.0f} tok/s | 429s {r.rate_limited} | {spend(r, self.spent_before)}"
            f" | ETA {_clock(eta)}",
        )


def say(label: str, text: str) -> None:
    """One of the engine's own lines, `[label] text`: every stage, round and redo says what it does through
    here, on stderr, which the terminal keeps while Ray's lines go to the run's log (terminal.py)."""
    print(f"[{label}] {text}", file=sys.stderr, flush=True)


def spend(r: StageResult, spent_before: float) -> str:
    """What the stage spent, and the run so far: the money part of every progress line."""
    return f"${r.usd:,.2f} (run ${spent_before + r.usd:,.2f})"


def _clock(seconds: float) -> str:
    if seconds != seconds:  # nan: nothing done yet
        return "?"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}"
