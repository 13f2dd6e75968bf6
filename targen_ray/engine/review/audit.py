"""`targen audit`: what the reviewers' decisions say of a run's labels. Label accuracy of the final labels
with a 95% Wilson interval, per-label precision and recall, the confusion matrix, the accuracy step 3's
labels alone would have had (what self-correction gained), each judge's accuracy, defect rates, and how
far reviewers agree where two reviewed the same rows. Written to review/audit.json with the final rows'
digest, so the gate and the card know whether it is still of the rows being published."""

from __future__ import annotations

import json
import math
from collections import Counter

from .. import agreement
from ..store import RunDir
from ..tasks.declared import normalise
from . import decisions as decisions_mod
from .sample import answer_text, final_rows, key_of, task_of

Z = 1.96  # a 95% interval


def wilson(hits: int, n: int) -> dict:
    """A share with its 95% Wilson score interval (sound at small n and near 0 or 1)."""
    if n == 0:
        return {"value": None, "low": None, "high": None, "rows": 0}
    p = hits / n
    centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
    half = Z * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n)) / (1 + Z * Z / n)
    return {"value": round(p, 4), "low": round(centre - half, 4), "high": round(centre + half, 4), "rows": n}


def gold(by_reviewer: dict[str, dict[str, dict]]) -> dict[str, int]:
    """Each reviewed row's right label: the reviewers' most common answer (a tie: the first reviewer's,
    by name)."""
    votes: dict[str, list[int]] = {}
    for reviewer in sorted(by_reviewer):
        for row, d in by_reviewer[reviewer].items():
            if d["label"] is not None:
                votes.setdefault(row, []).append(d["label"])
    return {
        row: Counter(v).most_common(1)[0][0] if len(set(v)) < len(v) or len(v) == 1 else v[0]
        for row, v in votes.items()
    }


def audit(run_dir: str, files: list[str] = ()) -> dict:
    run = RunDir(run_dir)
    task = task_of(run)
    labels, ident = ([] if task.span_answer else list(task.label_names)), key_of(task)
    rows = {r[ident]: r for r in final_rows(run, task)}
    by_reviewer = decisions_mod.read(run, list(files), set(rows), labels)
    truth = gold(by_reviewer) if labels else _gold_answers(by_reviewer)
    if not truth:
        raise decisions_mod.SpecError(
            f"{run}: no reviewed rows (no decisions in {run.review_decisions()}/ or --decisions)"
        )
    if not labels:
        out = _answers(task, rows, truth, by_reviewer) | {"final_digest": run.final_digest()}
        run.write_json(run.audit_file(), out)
        return out
    final, initial = task.lineage_name("final_label"), task.lineage_name("initial_label")
    reviewed = [(rows[i], g) for i, g in truth.items()]
    confusion = [[0] * len(labels) for _ in labels]
    for r, g in reviewed:
        confusion[g][r[final]] += 1
    per_label = {}
    for k, name in enumerate(labels):
        said, real = sum(row[k] for row in confusion), sum(confusion[k])
        per_label[name] = {
            "precision": round(confusion[k][k] / said, 4) if said else None,
            "recall": round(confusion[k][k] / real, 4) if real else None,
            "support": real,
        }
    accuracy = wilson(sum(r[final] == g for r, g in reviewed), len(reviewed))
    step3 = wilson(sum(r[initial] == g for r, g in reviewed), len(reviewed))
    every = [d for mine in by_reviewer.values() for d in mine.values()]
    defects = Counter(d for decided in every for d in set(decided["defects"]))
    out = {
        "rows": len(reviewed),
        "reviewers": sorted(by_reviewer),
        "decisions": len(every),
        "accuracy": accuracy,
        "step3_accuracy": step3,
        "self_correction_gain": round(accuracy["value"] - step3["value"], 4),
        "judges": _judges(task, reviewed, final, (run.read_json(run.summary_file()) or {}).get("generation", {})),
        "per_label": per_label,
        "confusion": {"labels": labels, "reviewer_by_final": confusion},
        "defect_rates": {d: round(n / len(every), 4) for d, n in sorted(defects.items())},
        "reviewer_agreement": _between(by_reviewer),
        "final_digest": run.final_digest(),
    }
    run.write_json(run.audit_file(), out)
    return out


def _gold_answers(by_reviewer: dict[str, dict[str, dict]]) -> dict[str, str]:
    """An extractive task's reviewed rows: the reviewers' most common answer, normalised as the task's
    checks normalise (a tie: the first reviewer's, by name)."""
    votes: dict[str, list[str]] = {}
    for reviewer in sorted(by_reviewer):
        for row, d in by_reviewer[reviewer].items():
            if d["answer"]:
                votes.setdefault(row, []).append(normalise(d["answer"]))
    return {row: Counter(v).most_common(1)[0][0] if len(set(v)) < len(v) else v[0] for row, v in votes.items()}


def _answers(task, rows: dict[str, dict], truth: dict[str, str], by_reviewer: dict[str, dict[str, dict]]) -> dict:
    """The audit of an extractive task: the final answers against the reviewers' (exact match after
    normalisation), each panel judge's answer likewise; step 3's answer is not kept, so it has no score."""
    final = {row: normalise(answer_text(rows[row][task.span_answer.field])) for row in truth}
    column, hits, seen = task.lineage_name("judges"), Counter(), Counter()
    for row, g in truth.items():
        said = rows[row].get(column)
        for j in (
            json.loads(said) if said else [{"judge": rows[row].get(task.lineage_name("judge_endpoint")) or "judge"}]
        ):
            answer = final[row] if "answer" not in j else normalise(j["answer"] or "")
            seen[j["judge"]] += 1
            hits[j["judge"]] += answer == g
    every = [d for mine in by_reviewer.values() for d in mine.values()]
    defects = Counter(d for decided in every for d in set(decided["defects"]))
    pairs, names = {}, sorted(by_reviewer)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            both = [
                r
                for r in by_reviewer[a].keys() & by_reviewer[b].keys()
                if by_reviewer[a][r]["answer"] and by_reviewer[b][r]["answer"]
            ]
            same = sum(normalise(by_reviewer[a][r]["answer"]) == normalise(by_reviewer[b][r]["answer"]) for r in both)
            if both:
                pairs[f"{a}~{b}"] = {"rows": len(both), "agreement": round(same / len(both), 4), "cohen_kappa": None}
    return {
        "rows": len(truth),
        "by": "answer",
        "reviewers": names,
        "decisions": len(every),
        "accuracy": wilson(sum(final[r] == g for r, g in truth.items()), len(truth)),
        "step3_accuracy": wilson(0, 0),
        "self_correction_gain": None,
        "judges": {judge: wilson(hits[judge], seen[judge]) for judge in seen},
        "per_label": {},
        "confusion": {"labels": [], "reviewer_by_final": []},
        "defect_rates": {d: round(n / len(every), 4) for d, n in sorted(defects.items())},
        "reviewer_agreement": pairs,
    }


def _judges(task, reviewed: list[tuple[dict, int]], final: str, generation: dict) -> dict:
    """Each judge's accuracy against the reviewers: a panel's from each judge's stored label (in the job's
    label words, `generation.labels` of summary.json), one judge's from the final label."""
    column = task.lineage_name("judges")
    if reviewed and reviewed[0][0].get(column):
        labels, hits, seen = list(generation.get("labels", task.label_names)), Counter(), Counter()
        for r, g in reviewed:
            for j in json.loads(r[column]):
                if j["label"] is not None:
                    seen[j["judge"]] += 1
                    hits[j["judge"]] += labels.index(j["label"]) == g
        return {judge: wilson(hits[judge], seen[judge]) for judge in seen}
    by_endpoint: dict[str, list[bool]] = {}
    for r, g in reviewed:
        by_endpoint.setdefault(r.get(task.lineage_name("judge_endpoint")) or "judge", []).append(r[final] == g)
    return {name: wilson(sum(v), len(v)) for name, v in by_endpoint.items()}


def _between(by_reviewer: dict[str, dict[str, dict]]) -> dict:
    """Pairs of reviewers over the rows both labelled: share agreeing and Cohen's kappa."""
    names, out = sorted(by_reviewer), {}
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            both = [
                (by_reviewer[a][r]["label"], by_reviewer[b][r]["label"])
                for r in by_reviewer[a].keys() & by_reviewer[b].keys()
                if by_reviewer[a][r]["label"] is not None and by_reviewer[b][r]["label"] is not None
            ]
            if both:
                out[f"{a}~{b}"] = {
                    "rows": len(both),
                    "agreement": round(sum(x == y for x, y in both) / len(both), 4),
                    "cohen_kappa": agreement.cohen([x for x, _ in both], [y for _, y in both]),
                }
    return out


def table(result: dict) -> str:
    """The audit in a few lines for the terminal."""
    acc, step3 = result["accuracy"], result["step3_accuracy"]
    lines = [
        f"reviewed {result['rows']} rows ({', '.join(result['reviewers'])})",
        f"{result.get('by', 'label')} accuracy  {acc['value']:.3f}  95% [{acc['low']:.3f}, {acc['high']:.3f}]",
    ]
    if step3["value"] is not None:
        lines.append(f"step-3 labels    {step3['value']:.3f}  (self-correction {result['self_correction_gain']:+.3f})")
    lines += [f"judge {n:<10} {j['value']:.3f}  ({j['rows']} rows)" for n, j in result["judges"].items()]
    lines += [f"defect {d:<12} {share:.1%}" for d, share in result["defect_rates"].items()]
    lines += [
        f"reviewers {pair}: {a['agreement']:.1%} agree, kappa {a['cohen_kappa']}"
        for pair, a in result["reviewer_agreement"].items()
    ]
    return "\n".join(lines)
