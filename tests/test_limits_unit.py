"""The limiter's arithmetic, the breaker and header parsing, on an injected clock."""

from __future__ import annotations

import asyncio
from email.utils import formatdate

import pytest

from targen_ray.engine.breakers import Breaker
from targen_ray.engine.limits import HORIZON_S, Budget, Lease, Limiter, Pacer, Share
from targen_ray.engine.limits.pacer import LATE_S
from targen_ray.engine.providers.base import rate_info, retry_after
from targen_ray.fake.ratelimit import Limits, SlidingWindow


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def delays(lease, clock) -> list[float]:
    return [t - clock.now for t in lease.starts]


def test_requests_are_paced_a_hair_under_the_limit():
    clock = Clock()
    lim = Limiter(rpm=600, margin=0.98, clock=clock)
    lease = lim.lease([(10, 10)] * 100)
    gap = 60 / (600 * 0.98)
    assert delays(lease, clock) == pytest.approx([i * gap for i in range(len(lease.starts))])
    assert len(lease.starts) == int(HORIZON_S / gap) + 1  # nothing promised beyond the horizon
    assert lease.retry_in > 0


def test_leases_from_many_workers_share_one_schedule():
    clock = Clock()
    lim = Limiter(rpm=6000, clock=clock)
    a, b = lim.lease([(1, 1)] * 5), lim.lease([(1, 1)] * 5)
    assert min(b.starts) > max(a.starts)


def test_tokens_pace_and_refunds_give_capacity_back():
    clock = Clock()
    lim = Limiter(tpm=60_000, margin=1.0, clock=clock)  # 1,000 tokens/s
    lease = lim.lease([(100, 400)] * 3)  # 500 tokens each: 0.5 s apart
    assert delays(lease, clock) == pytest.approx([0.0, 0.5, 1.0])
    # the three used 100 tokens each, not 500: 1,200 tokens (1.2 s) come back
    lease = lim.lease([(100, 400)], refund=(0, 1200))
    assert delays(lease, clock) == pytest.approx([0.3])


def test_input_and_output_token_limits_apart():
    clock = Clock()
    lim = Limiter(itpm=60_000, otpm=6_000, margin=1.0, clock=clock)  # output is the binding one
    lease = lim.lease([(100, 50)] * 3)  # input needs 0.1 s each, output 0.5 s
    assert delays(lease, clock) == pytest.approx([0.0, 0.5, 1.0])


def test_a_429_pauses_every_lease():
    clock = Clock()
    lim = Limiter(rpm=6000, clock=clock)
    lim.pause(5.0)
    lease = lim.lease([(1, 1)] * 3)
    assert lease.starts == [] and lease.paused_for == pytest.approx(5.0)
    assert lease.retry_in == pytest.approx(5.0 - HORIZON_S / 2)
    clock.now += 5.0
    assert delays(lim.lease([(1, 1)]), clock) == [0.0]


def test_headers_lower_limits_configured_too_high_and_fill_missing_ones():
    lim = Limiter(rpm=6000)
    lim.observe(3000, 90_000)
    assert lim.limits["requests"] == 3000 and lim.limits["tokens"] == 90_000
    lim.observe(5000, None)  # a higher report never raises a limit
    assert lim.limits["requests"] == 3000


def test_retry_after_forms():
    assert retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert retry_after({"retry-after": "7"}) == 7.0
    assert 9 <= retry_after({"retry-after": formatdate(__import__("time").time() + 10, usegmt=True)}) <= 10
    assert retry_after({}) is None


def test_rate_info_from_either_provider():
    assert rate_info({"x-ratelimit-limit-requests": "3000", "x-ratelimit-limit-tokens": "1e6"}).limit_tokens == 1e6
    assert rate_info({"anthropic-ratelimit-requests-limit": "50"}).limit_requests == 50
    assert rate_info({"content-type": "application/json"}) is None


def test_breaker_opens_after_a_streak_and_probes_back():
    clock = Clock()
    b = Breaker(threshold=5, cooldown_s=10, clock=clock)
    for _ in range(4):
        b.failure()
    assert b.available()
    b.failure()
    assert not b.available()
    clock.now += 10
    assert b.available()  # one probe
    assert not b.available()  # and only one
    b.success()
    assert b.available() and b.trips == 1


def test_budget_refuses_what_would_pass_the_cap():
    budget = Budget(1.0)
    assert budget.reserve(0.6)
    assert not budget.reserve(0.6)
    assert budget.reserve(0.3, settle=(0.6, 0.5))  # spent 0.5 of the 0.6 reserved
    assert budget.spent == pytest.approx(0.5) and budget.reserved == pytest.approx(0.3)


def test_fake_window_admits_the_limit_then_429s():
    window = SlidingWindow(Limits(rpm=60, window_s=10))  # 10 per 10 s
    admitted = [window.admit("k", 100.0 + i * 0.1)[0] is not None for i in range(12)]
    assert admitted == [True] * 10 + [False] * 2 and window.over_limit == 2
    _, wait = window.admit("k", 101.5)
    assert wait == pytest.approx(8.5)
    assert window.admit("k", 110.01)[0] is not None
    headers = window.headers("openai", "k", 110.01)
    assert headers["x-ratelimit-limit-requests"] == "60"


def test_adaptive_limit_grows_on_fast_answers_and_backs_off():
    from targen_ray.engine.breakers import AdaptiveLimit

    aimd = AdaptiveLimit(ceiling=32, adaptive=True)
    start = aimd.limit
    for _ in range(40):
        aimd.success(0.1)
    grown = aimd.limit
    assert start < grown <= 32
    aimd.failure()  # a 5xx or a timeout
    assert aimd.limit == pytest.approx(grown * 0.7)
    aimd.success(0.5)  # latency five times the best seen: the server is queueing
    assert aimd.limit == pytest.approx(grown * 0.49)
    fixed = AdaptiveLimit(ceiling=8, adaptive=False)
    fixed.failure()
    assert fixed.limit == 8


def test_no_burst_when_a_pause_ends():
    clock = Clock()
    lim = Limiter(rpm=600, margin=1.0, clock=clock)
    lim.pause(3.0)
    clock.now += 3.0
    assert delays(lim.lease([(1, 1)] * 3), clock) == pytest.approx([0.0, 0.1, 0.2])


def test_a_binding_limit_does_not_waste_the_others_headroom():
    clock = Clock()
    lim = Limiter(rpm=600, tpm=60_000, margin=1.0, clock=clock)  # 0.1 s per request, 1,000 tokens/s
    small = delays(lim.lease([(10, 40)] * 5), clock)  # 50 tokens: requests bind, tokens bank 0.05 s each
    assert small == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
    big = delays(lim.lease([(50, 100)] * 2), clock)  # 150 tokens each: the banked headroom is used
    assert big == pytest.approx([0.5, 0.6])


def _share(priorities: dict[str, float], asks: dict[str, int], seconds: float = 60.0) -> dict[str, float]:
    """Jobs leasing from one limiter every 50 ms (each asking `asks[job]` requests), with an injected
    clock: each job's share of the starts granted between 5 s and `seconds`."""
    clock = Clock()
    lim = Limiter(rpm=6000, margin=1.0, clock=clock)  # 100 requests/s
    counts, t0 = dict.fromkeys(priorities, 0), clock.now
    while clock.now < t0 + seconds:
        for job, priority in priorities.items():
            lease = lim.lease([(10, 10)] * asks[job], job=job, priority=priority)
            counts[job] += sum(1 for s in lease.starts if t0 + 5.0 <= s < t0 + seconds)
        clock.now += 0.05
    total = sum(counts.values())
    assert total == pytest.approx(100 * (seconds - 5.0), rel=0.03)  # the whole rate is used, never more
    return {job: n / total for job, n in counts.items()}


def test_jobs_on_one_key_share_it_by_priority():
    assert _share({"a": 1.0, "b": 1.0}, {"a": 16, "b": 16}) == pytest.approx({"a": 0.5, "b": 0.5}, abs=0.02)
    assert _share({"a": 3.0, "b": 1.0}, {"a": 16, "b": 16}) == pytest.approx({"a": 0.75, "b": 0.25}, abs=0.02)


def test_a_job_that_wants_little_leaves_the_rest_to_the_others():
    # `small` asks 1 request per 50 ms (20/s of the 100/s): it gets all it asks, `big` the other 80/s
    shares = _share({"small": 1.0, "big": 1.0}, {"small": 1, "big": 16})
    assert shares["small"] == pytest.approx(0.2, abs=0.02) and shares["big"] == pytest.approx(0.8, abs=0.02)


def test_a_restarted_limiter_grants_nothing_inside_the_old_schedules_horizon():
    clock = Clock()
    lim = Limiter(rpm=6000, clock=clock, restarted=True)
    assert min(lim.lease([(1, 1)] * 5).starts, default=clock.now + HORIZON_S) >= clock.now + HORIZON_S - 1e-9
    clock.now += 2 * HORIZON_S
    assert delays(lim.lease([(1, 1)]), clock) == [0.0]


def test_the_lowest_limit_a_live_job_configured_wins_and_a_gone_one_stops_counting():
    clock = Clock()
    lim = Limiter(clock=clock)
    lim.configure("a", rpm=600)
    lim.configure("b", rpm=300)
    assert lim.limits["requests"] == 300
    clock.now += 61  # b leases no more; a does
    lim.lease([(1, 1)], job="a")
    assert lim.limits["requests"] == 600


class _ScriptedLimiter:
    """A limiter actor's `lease` as the pacer sees it: each reply grants one start time at the clock's
    now and then lets the clock run on by `late_by[i]` seconds before the pacer reads it (a reply that
    was slow to arrive, a worker descheduled, an event loop busy with other rows)."""

    def __init__(self, clock: Clock, late_by: list[float]):
        self.clock, self.late_by, self.calls = clock, list(late_by), []
        self.lease = self

    def remote(self, estimates, refund, job, priority):
        self.calls.append({"asked": len(estimates), "refund": refund})
        starts = [self.clock.now] * len(estimates)
        self.clock.now += self.late_by.pop(0) if self.late_by else 0.0
        future = asyncio.get_running_loop().create_future()
        future.set_result(Lease(starts, 0.0, 0.0))
        return future


def _pace(late_by: list[float], estimates: list[tuple[int, int]]) -> tuple[_ScriptedLimiter, Pacer]:
    clock = Clock()
    limiter = _ScriptedLimiter(clock, late_by)
    pacer = Pacer(Share(limiter, "job"), clock=clock)

    async def main():
        await asyncio.gather(*(pacer.acquire(e) for e in estimates))
        await pacer.acquire((0, 0))  # the next request: its lease carries what the ones before gave back

    asyncio.run(main())
    return limiter, pacer


def test_a_start_time_found_stale_is_leased_again_and_its_tokens_go_back():
    # the first reply is read 0.5 s after its start time: that start is not used; the second one is
    limiter, pacer = _pace([0.5], [(30, 70)])
    assert [c["asked"] for c in limiter.calls] == [1, 1, 1] and pacer.stale == 1
    assert limiter.calls[1]["refund"] == (30, 70)  # the unsent request's reserved tokens, returned
    assert limiter.calls[2]["refund"] == (0, 0)  # the one sent keeps its reservation
    # within the margin, the start time is used: one lease, nothing returned
    limiter, pacer = _pace([LATE_S * 0.9], [(30, 70)])
    assert [c["asked"] for c in limiter.calls] == [1, 1] and pacer.stale == 0
    assert limiter.calls[1]["refund"] == (0, 0)


def test_a_chunk_of_start_times_gone_stale_together_is_leased_again_whole():
    # eight requests leased at once, all found 2 s late (the worker was descheduled): none is sent on them
    limiter, pacer = _pace([2.0], [(10, 10)] * 8)
    assert [c["asked"] for c in limiter.calls] == [8, 8, 1] and pacer.stale == 8
    assert limiter.calls[1]["refund"] == (80, 80)
