"""A rehearsal is a run whose step 3 is written by this fake: before it starts, say which of the job's
checks the fake's writer cannot pass, so their rejects are expected rather than a surprise.

The fake is recognised by its `/health` answer, asked only of loopback servers (a provider is never
sent anything), and the checks by the step-3 schema the requests will carry (the fake reads nothing
else: DESIGN.md §5).
"""

from __future__ import annotations

import ipaddress
import json
import urllib.request
from urllib.parse import urlsplit

from .tasks import generic

SERVER = "targen-fake"  # what the fake's /health says it is


def is_fake(base_url: str | None, timeout_s: float = 2.0) -> bool:
    parts = urlsplit(base_url or "")
    host = parts.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
    if not loopback:
        return False
    try:
        with urllib.request.urlopen(f"{parts.scheme}://{parts.netloc}/health", timeout=timeout_s) as r:
            return json.load(r).get("server") == SERVER
    except (OSError, ValueError, AttributeError):  # not listening, not JSON, not an object: not the fake
        return False


def note(job) -> str | None:
    """One line naming the checks the fake cannot pass, when it writes the job's step 3; else None."""
    if not any(is_fake(spec.base_url) for _, spec in job.pool("generate")):
        return None
    inst = job.task.instance_schema
    label = {"type": "string", "enum": list(job.spec.labels)}
    unmet = generic.unmet({**inst, "properties": {**inst["properties"], "label": label}})
    if not unmet:
        return None
    return f"rehearsal: the fake provider cannot satisfy {', '.join(unmet)}; its rows failing them go to rejects/"
