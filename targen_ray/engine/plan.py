"""How many rows of which split and label to make, and which seed each planned row gets."""

from __future__ import annotations

import math

import pyarrow as pa

from ..config import SPLITS, JobSpec
from . import list_items
from .ids import stable_id

Quotas = dict[tuple[str, int], int]  # (split, label index) -> rows
MIN_YIELD = 0.2  # never plan more than 5x the missing rows in one round


def apportion(total: int, weights: list[float]) -> list[int]:
    """Largest-remainder rounding: integer shares of `total` proportional to `weights`, summing to it."""
    wsum = sum(weights)
    if total == 0 or wsum == 0:
        return [0] * len(weights)
    raw = [total * w / wsum for w in weights]
    out = [math.floor(r) for r in raw]
    by_remainder = sorted(range(len(raw)), key=lambda i: (out[i] - raw[i], i))
    for i in by_remainder[: total - sum(out)]:
        out[i] += 1
    return out


def split_sizes(spec: JobSpec, limit: int | None = None) -> dict[str, int]:
    """The job's split sizes, or scaled down proportionally to `limit` rows in total."""
    sizes = spec.splits.model_dump()
    if limit is None or limit >= sum(sizes.values()):
        return sizes
    return dict(zip(SPLITS, apportion(limit, [sizes[s] for s in SPLITS]), strict=True))


def quotas(spec: JobSpec, limit: int | None = None) -> Quotas:
    """Exact rows per (split, label): balanced unless the job gives label_weights."""
    weights = [(spec.label_weights or {}).get(lbl, 1.0) for lbl in spec.labels]
    out: Quotas = {}
    for split, n in split_sizes(spec, limit).items():
        for label, q in enumerate(apportion(n, weights)):
            out[(split, label)] = q
    return out


def slots(
    need: Quotas, overgenerate: float, job_name: str, round_no: int, yield_: float = 1.0
) -> list[tuple[str, int]]:
    """One (split, target label) per row to generate this round, interleaved in a stable order.

    `yield_` is the share of planned rows the last round kept; planning ÷ yield means a top-up round
    on a model that rejects half its output asks for twice the missing rows, not 10% more.
    """
    factor = (1 + overgenerate) / max(yield_, MIN_YIELD)
    out = [(s, lbl) for (s, lbl), n in need.items() for _ in range(math.ceil(n * factor))]
    keyed = [(stable_id(job_name, "slot", round_no, s, lbl, i), (s, lbl)) for i, (s, lbl) in enumerate(out)]
    return [slot for _, slot in sorted(keyed)]


def assign(job_name: str, round_no: int, todo: list[tuple[str, int]], seeds: pa.Table) -> pa.Table:
    """Pair each slot with one unused seed (`seeds`: seed_id and the keys that find its text); slots
    left without a seed are topped up next round."""
    seeds = seeds.slice(0, len(todo))
    n = seeds.num_rows
    slots = {
        # typed, so that a round whose every seed request failed is an empty table, not a null column
        "id": pa.array([stable_id(job_name, "generate", sid, 0) for sid in seeds["seed_id"].to_pylist()], pa.string()),
        "round": pa.array([round_no] * n, pa.int32()),
        "split": pa.array([s for s, _ in todo[:n]], pa.string()),
        "target_label": pa.array([lbl for _, lbl in todo[:n]], pa.int64()),
    }
    return pa.table({**slots, **{c: seeds[c] for c in seeds.column_names}})


def with_seeds(seed_rows: pa.Table, slots: pa.Table) -> pa.Table:
    """Stage 3's input rows for the slots whose seeds some stage-2 rows hold, with the seed's text and
    context."""
    rows = list_items.attach(seed_rows.select(["id", "seeds", "context_id", "context"]), "seeds", slots)
    return rows.rename_columns({"item": "seed"}).select(GENERATE_COLUMNS)


GENERATE_COLUMNS = ["id", "round", "split", "target_label", "seed_id", "seed", "context_id", "context"]


def shortfall(quota: Quotas, have: dict[tuple[str, int], int]) -> Quotas:
    return {k: q - have.get(k, 0) for k, q in quota.items() if q > have.get(k, 0)}
