"""The fake server's rate limits: per-key RPM and TPM over a sliding window, as strict providers enforce
them, with the headers real providers send. Requests over the limit are answered 429 and counted."""

from __future__ import annotations

import bisect
import math
from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


@dataclass(frozen=True)
class Limits:
    rpm: int | None = None
    tpm: int | None = None
    window_s: float = 10.0  # sub-minute windows catch bursts, as the strictest providers do


class _Entry:
    __slots__ = ("t", "tokens")

    def __init__(self, t: float):
        self.t, self.tokens = t, 0


def _arrival(entry: _Entry) -> float:
    return entry.t


class SlidingWindow:
    def __init__(self, limits: Limits):
        self.limits = limits
        self._log: dict[str, deque[_Entry]] = defaultdict(deque)
        self.over_limit = 0
        self.over_limit_by = {"requests": 0, "tokens": 0}

    def _caps(self) -> tuple[float, float]:
        scale = self.limits.window_s / 60
        return (self.limits.rpm or math.inf) * scale, (self.limits.tpm or math.inf) * scale

    def admit(self, key: str, now: float) -> tuple[_Entry | None, float]:
        """(entry to record tokens on, 0) if admitted; (None, seconds until it would be) if over the limit."""
        log = self._log[key]
        while log and log[0].t <= now - self.limits.window_s:
            log.popleft()
        max_req, max_tok = self._caps()
        over_requests, over_tokens = len(log) + 1 > max_req, sum(e.tokens for e in log) >= max_tok
        if over_requests or over_tokens:
            self.over_limit += 1
            self.over_limit_by["requests" if over_requests else "tokens"] += 1
            return None, max(0.001, log[0].t + self.limits.window_s - now) if log else 0.001
        entry = _Entry(now)
        bisect.insort(log, entry, key=_arrival)  # in arrival order, though handlers may admit out of it
        return entry, 0.0

    def headers(self, api: str, key: str, now: float) -> dict[str, str]:
        """x-ratelimit-* (OpenAI) or anthropic-ratelimit-* headers, per minute like the real ones."""
        if not (self.limits.rpm or self.limits.tpm):
            return {}
        log = self._log[key]
        per_minute = 60 / self.limits.window_s
        reset = max(0.0, log[0].t + self.limits.window_s - now) if log else 0.0
        out = {}
        for kind, limit, used in (
            ("requests", self.limits.rpm, len(log)),
            ("tokens", self.limits.tpm, sum(e.tokens for e in log)),
        ):
            if not limit:
                continue
            remaining = max(0, int(limit - used * per_minute))
            if api == "anthropic":
                at = (datetime.now(UTC) + timedelta(seconds=reset)).isoformat(timespec="seconds")
                out |= {
                    f"anthropic-ratelimit-{kind}-limit": str(limit),
                    f"anthropic-ratelimit-{kind}-remaining": str(remaining),
                    f"anthropic-ratelimit-{kind}-reset": at.replace("+00:00", "Z"),
                }
            else:
                out |= {
                    f"x-ratelimit-limit-{kind}": str(limit),
                    f"x-ratelimit-remaining-{kind}": str(remaining),
                    f"x-ratelimit-reset-{kind}": f"{reset:.3f}s",
                }
        return out
