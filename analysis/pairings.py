"""The sides of `targen evaluate`'s table: the run's synthetic train and test splits and a reference
set's train split and its other rows, and which side's model is scored on which (the paper's table:
synthetic->synthetic, synthetic->real, real->real, real->synthetic)."""

from __future__ import annotations

import polars as pl

PAIRINGS = {
    "synthetic train": ["synthetic test", "reference held-out"],
    "reference train": ["reference held-out", "synthetic test"],
}


def sides(synthetic: pl.DataFrame, reference: pl.DataFrame | None) -> dict[str, tuple[str, pl.DataFrame]]:
    """PAIRINGS' keys -> (the side's name, its rows), for the sides that have rows. Frames have `split`;
    a reference's held-out side is named by its splits ("reference validation")."""
    split = pl.col("split")
    out = {f"synthetic {s}": (f"synthetic {s}", synthetic.filter(split == s)) for s in ("train", "test")}
    if reference is not None:
        held = sorted(set(reference["split"].to_list()) - {"train"})
        out["reference train"] = ("reference train", reference.filter(split == "train"))
        out["reference held-out"] = (f"reference {'+'.join(held) or 'held-out'}", reference.filter(split != "train"))
    return {k: v for k, v in out.items() if len(v[1])}


def wanted(named: dict) -> list[tuple[str, list[str]]]:
    """(train side, the sides its model is scored on) for every pairing `named` has both sides of."""
    out = [(a, [b for b in tested if b in named]) for a, tested in PAIRINGS.items() if a in named]
    return [(a, tested) for a, tested in out if tested]
