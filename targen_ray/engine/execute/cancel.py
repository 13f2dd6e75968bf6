"""What a `--force` redo does to the batches the old job left in flight: they are cancelled, once each."""

from __future__ import annotations

from ...config import load_endpoints
from ...config.kinds import KINDS
from ...errors import FatalError, RunError
from ..job import Job
from ..progress import say
from ..providers.batch import build_batch_client, call_api
from ..store import RunDir
from ..store.batch_records import orphaned


def cancel_superseded(job: Job, run: RunDir) -> None:
    """Cancel the batches still in flight of stages `--force` superseded or dropped: their rows belong to
    the old job and nothing will collect them. Each is tried once (the record says so); a failed cancel
    is one line, and the run goes on. Lines a batch finished before its cancel are billed but not in the
    ledger. The endpoint is looked up in the whole endpoints file: the redo may have moved the step off it."""
    endpoints = None
    for name, (stage, record) in orphaned(run, job.paying_stages).items():
        if record["collected"] or not record["batch_id"] or "cancel" in record:
            continue
        endpoint, batch_id = record["endpoint"], record["batch_id"]
        endpoints = endpoints or load_endpoints(job.endpoints_path)
        try:
            if endpoint not in endpoints or not KINDS[endpoints[endpoint].provider].batch:
                raise RunError(f"no endpoint {endpoint!r} with a Batch API in {job.endpoints_path}")
            client = build_batch_client(endpoint, endpoints[endpoint])
            call_api(endpoint, lambda c=client, b=batch_id: c.cancel(b))
            outcome = "cancelled"
        except (RunError, FatalError) as e:
            outcome = f"not cancelled ({e}): cancel it with the provider if its results are not wanted"
        run.write_json(name, {**record, "cancel": outcome})
        say("redo", f"batch {batch_id} of {stage}, no longer this job's: {outcome}")
