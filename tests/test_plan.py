"""Quota arithmetic: exact split sizes and label counts, at full size and scaled down."""

from __future__ import annotations

from conftest import BOOLQ

from targen_ray.config import load_job
from targen_ray.engine import plan


def test_apportion_is_exact_and_proportional():
    assert plan.apportion(20, [9427, 3270, 3245]) == [12, 4, 4]
    assert plan.apportion(7, [1, 1]) == [4, 3]
    assert plan.apportion(0, [1, 2]) == [0, 0]
    for total in range(0, 200, 7):
        assert sum(plan.apportion(total, [3, 5, 11])) == total


def test_full_size_boolq():
    spec = load_job(BOOLQ)
    assert plan.split_sizes(spec) == {"train": 9427, "validation": 3270, "test": 3245}
    quotas = plan.quotas(spec)
    assert quotas[("train", 0)] + quotas[("train", 1)] == 9427
    assert abs(quotas[("train", 0)] - quotas[("train", 1)]) <= 1


def test_limit_scales_all_splits():
    spec = load_job(BOOLQ)
    assert plan.split_sizes(spec, 100) == {"train": 59, "validation": 21, "test": 20}
    assert sum(plan.quotas(spec, 100).values()) == 100


def test_label_weights():
    spec = load_job(BOOLQ).model_copy(update={"label_weights": {"no": 1, "yes": 3}})
    quotas = plan.quotas(spec, 400)
    for split in ("train", "validation", "test"):
        no, yes = quotas[(split, 0)], quotas[(split, 1)]
        assert abs(yes - 3 * no) <= 3 and no > 0


def test_slots_overgenerate_and_interleave():
    need = {("train", 0): 10, ("train", 1): 10}
    todo = plan.slots(need, 0.1, "boolq", 0)
    assert len(todo) == 22
    assert todo != sorted(todo)  # labels interleaved, not in blocks
    assert todo == plan.slots(need, 0.1, "boolq", 0)  # and deterministic


def test_shortfall():
    assert plan.shortfall({("train", 0): 3, ("train", 1): 2}, {("train", 0): 5, ("train", 1): 1}) == {("train", 1): 1}
