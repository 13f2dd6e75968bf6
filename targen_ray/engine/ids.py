"""Row ids: a leaf, so that planning (plan, items, split) imports neither Ray nor the providers."""

from __future__ import annotations

import hashlib


def stable_id(*parts: object) -> str:
    """Deterministic row id: the same job, stage, parent and sample index give the same id on any machine."""
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:20]
