"""The report's plots as PNG bytes (matplotlib, no display): each draws the synthetic set and, when
there is one, the reference set side by side."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402

COLOURS = {"synthetic": "#3367d6", "reference": "#e8710a"}
SIZE = (7.5, 3.2)


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def histograms(series: dict[str, np.ndarray], title: str, xlabel: str, bins: int = 40, counts: bool = False) -> bytes:
    """Overlaid, normalised histograms of one quantity per dataset; `counts` (whole numbers) get one bin
    per number when their range is narrower than `bins`."""
    fig, ax = plt.subplots(figsize=SIZE)
    present = [v for v in series.values() if len(v)]
    if present:
        values = np.concatenate(present)
        lo, hi = values.min(), values.max()
        narrow = counts and hi - lo < bins
        edges = np.arange(lo - 0.5, hi + 1.5) if narrow else np.histogram_bin_edges(values, bins=bins)
        for name, values in series.items():
            if len(values):
                ax.hist(
                    values,
                    bins=edges,
                    density=True,
                    alpha=0.55,
                    label=f"{name} (n={len(values):,})",
                    color=COLOURS.get(name),
                )
        ax.legend()
    else:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
    ax.set(title=title, xlabel=xlabel, ylabel="density")
    return _png(fig)


def bars(groups: dict[str, dict[str, float]], title: str, ylabel: str) -> bytes:
    """Grouped bars: one group per category, one bar per series (e.g. per split or per dataset)."""
    categories = sorted({c for counts in groups.values() for c in counts})
    fig, ax = plt.subplots(figsize=SIZE)
    width = 0.8 / max(len(groups), 1)
    for k, (name, counts) in enumerate(groups.items()):
        x = np.arange(len(categories)) + k * width
        ax.bar(x, [counts.get(c, 0) for c in categories], width, label=name, color=COLOURS.get(name))
    ax.set_xticks(np.arange(len(categories)) + width * (len(groups) - 1) / 2, categories)
    ax.set(title=title, ylabel=ylabel)
    if len(groups) > 1:
        ax.legend()
    return _png(fig)


def scores(evaluation: dict) -> bytes:
    """`targen evaluate`'s scores: a group per train -> test pairing, a bar per score with its bootstrap
    interval, and a tick at chance (the commonest train label, or a candidate drawn at random)."""
    pairs = [p for p in evaluation["pairs"] if p.get("available")]
    names = sorted({s for p in pairs for s in p["scores"]})
    fig, ax = plt.subplots(figsize=SIZE)
    width = 0.8 / max(len(names), 1)
    for k, name in enumerate(names):
        x = np.arange(len(pairs)) + k * width
        got = [p["scores"].get(name, {"value": 0, "low": 0, "high": 0}) for p in pairs]
        values = np.array([g["value"] for g in got])
        spread = np.array(
            [
                [v - g["low"] for v, g in zip(values, got, strict=True)],
                [g["high"] - v for v, g in zip(values, got, strict=True)],
            ]
        )
        ax.bar(x, values, width, yerr=spread, capsize=3, label=name)
    centres = np.arange(len(pairs)) + width * (len(names) - 1) / 2
    ax.scatter(centres, [p["chance"] for p in pairs], marker="_", s=400, color="black", label="chance", zorder=3)
    ax.set_xticks(centres, [f"{p['train']}\n-> {p['test']}" for p in pairs], fontsize=7)
    ax.set(title=f"a small model trained on each set ({evaluation['model']})", ylabel="score")
    lowest = min([0.0, *(s["low"] for p in pairs for s in p["scores"].values())])  # MCC may be below 0
    ax.set_ylim(lowest - 0.05 if lowest < 0 else 0, 1.05)
    ax.legend(fontsize=7)
    return _png(fig)


def audit(result: dict) -> bytes:
    """`targen audit`'s accuracies against the reviewers: the final labels, step 3's alone and each
    judge's, a bar each with its 95% Wilson interval."""
    shares = {"final labels": result["accuracy"], "step 3 labels": result["step3_accuracy"]}
    shares |= {f"judge {name}": share for name, share in result["judges"].items()}
    shares = {name: s for name, s in shares.items() if s["value"] is not None}
    values = np.array([s["value"] for s in shares.values()])
    spread = np.array([values - [s["low"] for s in shares.values()], [s["high"] for s in shares.values()] - values])
    fig, ax = plt.subplots(figsize=SIZE)
    ax.bar(np.arange(len(shares)), values, 0.6, yerr=spread, capsize=4)
    ax.set_xticks(np.arange(len(shares)), list(shares), fontsize=7)
    ax.set(title=f"label accuracy against {result['rows']} reviewed rows", ylabel="accuracy", ylim=(0, 1.05))
    return _png(fig)
