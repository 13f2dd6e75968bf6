"""Near-duplicate search: the partitioned search finds what exact search finds on planted pairs, and
components join chains of pairs."""

from __future__ import annotations

import numpy as np

from targen_ray.engine.dedup.search import components, near_pairs


def _unit(x):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _planted(rows: int, dups: int, rng):
    """Rows around 20 topics, and `dups` near-copies of the first rows at cosine ~0.92-0.99."""
    topics = _unit(rng.standard_normal((20, 64)))
    x = _unit(topics[rng.integers(0, 20, rows)] + 0.9 * _unit(rng.standard_normal((rows, 64))))
    copies = _unit(x[:dups] + rng.uniform(0.1, 0.4, (dups, 1)) * _unit(rng.standard_normal((dups, 64))))
    return np.vstack([x, copies])


def test_exact_search_finds_each_planted_pair_once():
    x = _planted(500, 40, np.random.default_rng(0))
    i, j, s = near_pairs(x, 0.9)
    pairs = set(zip(i.tolist(), j.tolist(), strict=True))
    assert {(k, 500 + k) for k in range(40)} <= pairs
    assert all(a < b for a, b in pairs) and len(pairs) == len(i)
    assert np.allclose(s, np.sum(x[i] * x[j], axis=1), atol=1e-5) and s.min() >= 0.9


def test_partitioned_search_matches_exact_search():
    x = _planted(6000, 300, np.random.default_rng(1))
    exact = set(zip(*near_pairs(x, 0.9)[:2], strict=True))
    i, j, _ = near_pairs(x, 0.9, exact_below=100)  # 23 cells of ~256 rows
    found = set(zip(i.tolist(), j.tolist(), strict=True))
    assert found <= {(int(a), int(b)) for a, b in exact}  # never a pair below the threshold
    assert len(found) >= 0.95 * len(exact)


def test_components_join_chains_and_leave_singletons():
    labels = components(7, np.array([0, 2, 5, 3]), np.array([1, 3, 6, 4]))
    assert labels.tolist() == [0, 0, 2, 2, 2, 5, 5]
    assert components(3, np.array([], np.int64), np.array([], np.int64)).tolist() == [0, 1, 2]
    chain = np.arange(999)
    assert set(components(1000, chain[::-1], chain[::-1] + 1).tolist()) == {0}
