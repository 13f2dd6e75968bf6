"""The quality gate of `targen publish`: the figures a run must meet to be published, each failure one
line naming the figure, its value and the job's threshold (`gate:` in the job, recorded in summary.json)."""

from __future__ import annotations

from .store import RunDir


def failures(run: RunDir, summary: dict, metrics: dict | None) -> list[str]:
    """Why the run may not be published as it is (empty: it may)."""
    gate, rows = summary.get("gate") or {}, summary["rows"]
    out = []
    if not rows["counts_add_up"] and not summary.get("stopped"):  # a stopped run never sent some planned rows
        out.append(
            f"row counts do not add up: planned {rows['planned']:,} != kept {rows['kept']:,} + rejected "
            f"{rows['rejected']:,} + duplicates {rows['deduplicated']:,} + surplus {rows['surplus']:,}"
        )
    judged = summary["stages"]["correct"]["kept"]
    dropped, flipped = summary["dedup"]["exact"] + summary["dedup"]["near"], rows["self_corrected"]
    most = [  # (threshold, figure, value, what it counts); no judged rows: nothing to be a share of
        ("max_duplicate_share", "duplicate share", dropped / max(judged, 1), f"{dropped:,} of {judged:,} rows"),
        ("max_flip_rate", "self-correction flip rate", flipped / max(judged, 1), f"{flipped:,} of {judged:,} labels"),
    ]
    out += [f"{figure} {v:.1%} ({n}) > gate.{key} {gate[key]}" for key, figure, v, n in most if _over(gate, key, v)]
    if gate.get("min_label_share") is not None:
        for split, s in summary["splits"].items():
            if len(s["labels"]) > 1 and s["rows"]:
                label, n = min(s["labels"].items(), key=lambda kv: kv[1])
                if n / s["rows"] < gate["min_label_share"]:
                    share = f"{n / s['rows']:.1%} of {split} ({n:,} of {s['rows']:,})"
                    out.append(f"label {label!r} is {share} < gate.min_label_share {gate['min_label_share']}")
    if gate.get("min_score") is not None:
        out += _score(run, metrics, gate["min_score"])
    if gate.get("min_audit_accuracy") is not None or gate.get("min_audit_rows") is not None:
        out += _audit(run, gate.get("min_audit_accuracy"), gate.get("min_audit_rows"))
    return out


def _audit(run: RunDir, least: float | None, rows: int | None) -> list[str]:
    audit = run.read_json(run.audit_file())
    if audit is None or audit["final_digest"] != run.final_digest():
        return [f"the gate needs an audit of these rows: review a sample, then run `targen audit {run}`"]
    out, acc = [], audit["accuracy"]
    if rows is not None and audit["rows"] < rows:
        out.append(f"the audit reviewed {audit['rows']} rows < gate.min_audit_rows {rows}")
    if least is not None and acc["low"] < least:
        out.append(
            f"audit label accuracy {acc['value']} (95% interval {acc['low']}-{acc['high']}, {acc['rows']} rows): "
            f"lower bound < gate.min_audit_accuracy {least}"
        )
    return out


def _over(gate: dict, key: str, value: float) -> bool:
    return gate.get(key) is not None and value > gate[key]


def _score(run: RunDir, metrics: dict | None, limit: float) -> list[str]:
    evaluation = (metrics or {}).get("evaluation")
    if not evaluation or evaluation["source_sha256"] != run.final_digest():
        return [f"gate.min_score {limit} needs an evaluation of these rows: run `targen evaluate {run}` first"]
    own = [p for p in evaluation["pairs"] if (p["train"], p["test"]) == ("synthetic train", "synthetic test")]
    if not own or not own[0]["available"]:
        why = own[0]["reason"] if own else "no synthetic train and test rows"
        return [f"gate.min_score {limit}: the evaluation has no synthetic train -> test score ({why})"]
    name, score = next(iter(own[0]["scores"].items()))
    if score["value"] < limit:
        model = evaluation["model"]
        return [f"evaluate {name} {score['value']} (synthetic train -> test, {model}) < gate.min_score {limit}"]
    return []
