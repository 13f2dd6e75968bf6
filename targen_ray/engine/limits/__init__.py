"""Cluster-wide rate limits: one named Ray actor per API key and model paces every job on the cluster.

Per-process limiters multiply with the number of workers; this one holds the whole cluster's RPM and
TPM. It schedules request start times (GCRA: a virtual clock per budget, no bursts, a hair under the
limit), and hands them out in leases of several requests so that it costs one RPC per lease, not per
request. Token reservations are estimates (prompt + max output); workers refund the difference with
their next lease. A 429 pauses the key for every worker of every job; rate-limit headers lower limits
that were configured too high.

The budget belongs to the key, not the run: the actor is named by (provider, base URL, a hash of the
key, model), outlives any job (detached), is found by every job that uses that key and model under any
endpoint name, splits the rate between the jobs that want more than they get by their `priority`,
and exits once no job has leased from it for IDLE_S. A limiter restarted after its process died
cannot know what it granted before, so it grants nothing for the first HORIZON_S (the furthest ahead
it ever grants): no burst on top of the old schedule.
"""

from .actors import BudgetActor, LimiterActor, Share, limit_key, limiters_for
from .limiter import HORIZON_S, IDLE_S, Budget, Lease, Limiter
from .pacer import BudgetClient, Pacer

__all__ = [
    "HORIZON_S",
    "IDLE_S",
    "Budget",
    "BudgetActor",
    "BudgetClient",
    "Lease",
    "Limiter",
    "LimiterActor",
    "Pacer",
    "Share",
    "limit_key",
    "limiters_for",
]
