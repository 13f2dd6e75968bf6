"""Every error targen raises on purpose, in one place (a leaf: it imports nothing of targen's). Each
message is one line for the user.

- SpecError: bad input (job, endpoints, task, reference file): names the file, the field, what was expected.
- RunDirError: the run directory cannot be used for this job.
- RunError: the run stopped for a reason the user must fix; BudgetStop and StageFailed end it short.
- BudgetExhausted: the budget admits no more requests (a worker's side of BudgetStop).
- ProviderError: one failed call; RateLimited, FatalError (and AuthError) tell the pool what to do next.
"""

from __future__ import annotations


class SpecError(Exception):
    """Bad user input. The message is one line naming the file, the field and what was expected."""


class RunDirError(Exception):
    """The run directory cannot be used for this job; the message is one line."""


class RunError(Exception):
    """A run stopped for a reason the user must fix (bad key, ...); the message is one line."""


class BudgetStop(RunError):
    """The budget admits no more requests; everything paid for so far is written."""


class StageFailed(RunError):
    """Every row of a stage failed one way: the run ends with what it has, short, and says why."""


class BudgetExhausted(Exception):
    """The job's budget cannot take one more request; nothing more is admitted."""


class ProviderError(Exception):
    """A failed call. `retryable` says whether the same request may succeed later."""

    def __init__(self, message: str, *, retryable: bool, status: int | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.status = status


class RateLimited(ProviderError):
    """429: wait `retry_after` seconds (all workers), then try again."""

    def __init__(self, message: str, retry_after: float | None, rate: object | None):  # rate: providers.RateInfo
        super().__init__(message, retryable=True, status=429)
        self.retry_after, self.rate = retry_after, rate


class FatalError(ProviderError):
    """No request to this endpoint can succeed (bad key, missing package, ...): stop the run, retry nothing."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message, retryable=False, status=status)


class AuthError(FatalError):
    """401/403: the key is wrong or revoked."""
