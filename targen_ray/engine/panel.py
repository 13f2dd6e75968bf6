"""Step 4 by a panel: every judge answers every row in its own stage (`correct@JUDGE`, its own folder,
ledger and resume), then the panel's vote decides each row into step 4's folder. The vote sends
nothing: it is decided again from the stored answers, so another rule costs no request.

A judge's vote is the label it gave or, for a task with no label space, its answer (normalised as
the task's checks normalise). `majority`: the value most judges gave; a tie keeps the step-3 row.
`unanimous`: only a value every judge gave; a split row is rejected as a panel disagreement. A row no
judge answered is rejected with each judge's reason; a judge that failed a row is left out of its vote.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc

from ..config import judge_of
from . import agreement
from .job import Job
from .progress import say
from .store import RunDir
from .tasks.declared import normalise

ANSWER_COLUMNS = ["id", "final_label", "rationale", "instance", "correct_endpoint", "correct_model"]
TOKENS = ["correct_input_tokens", "correct_output_tokens"]
DECIDED = [
    ("final_label", pa.int64()),
    ("corrected", pa.bool_()),
    ("rationale", pa.string()),
    ("correct_endpoint", pa.string()),
    ("correct_model", pa.string()),
    ("correct_input_tokens", pa.int64()),
    ("correct_output_tokens", pa.int64()),
    ("judges", pa.string()),  # JSON: each judge's label, answer, rationale (or error), in panel order
    ("split_vote", pa.bool_()),
]


def by_answer(job: Job) -> bool:
    """A task with no label space votes on its answer, not on its one pseudo-label."""
    return len(job.spec.labels) == 1 and job.task.answer_of is not None


def value(job: Job, label: int, instance: str) -> object:
    """What a judge's answer votes for."""
    return normalise(job.task.answer_of(json.loads(instance))) if by_answer(job) else label


def vote(values: list, rule: str) -> tuple[object | None, bool, bool]:
    """(the panel's value, or None when there is none; whether the vote was split; whether it tied).
    `values`: one per judge, None for a judge that gave no answer."""
    given = [v for v in values if v is not None]
    split = len(set(given)) > 1
    if rule == "unanimous":
        return (None if split or len(given) < len(values) else given[0]), split, False
    ranked = Counter(given).most_common()
    if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
        return None, split, True
    return (ranked[0][0] if ranked else None), split, False


def _answers(job: Job, run: RunDir, round_id: str) -> tuple[dict, dict]:
    """Per judge: its answers of a round by row id, and its reasons for the rows it could not answer."""
    answers, failed = {}, {}
    for stage in job.stages("correct"):
        judge = judge_of(stage)
        kept = run.read(run.stage_dir(stage), round_id, ANSWER_COLUMNS + TOKENS)
        answers[judge] = {r["id"]: r for r in (kept.to_pylist() if kept is not None else [])}
        bad = run.read(run.rejects(stage), round_id, ["id", "error", *TOKENS])
        failed[judge] = {r["id"]: r for r in (bad.to_pylist() if bad is not None else [])}
    return answers, failed


def _decide_row(job: Job, row: dict, answers: dict, failed: dict) -> dict:
    """One generated row with the panel's decision (its `error` set when the panel rejects it)."""
    labels, judges = job.spec.labels, job.panel
    mine = [answers[j].get(row["id"]) for j in judges]
    values = [None if a is None else value(job, a["final_label"], a["instance"]) for a in mine]
    chosen, split, tie = vote(values, job.spec.steps.correct.vote)
    lineage = [
        {"judge": j, "label": labels[a["final_label"]], "rationale": a["rationale"]}
        if a
        else {"judge": j, "label": None, "rationale": None, "error": (failed[j].get(row["id"]) or {}).get("error")}
        for j, a in zip(judges, mine, strict=True)
    ]
    initial = value(job, row["initial_label"], row["instance"])
    for x, v in zip(lineage, values, strict=True):
        x["flipped"] = None if v is None else v != initial  # the judge's own flip, for its flip rate
        if by_answer(job):
            x["answer"] = v
    spent = [a or failed[j].get(row["id"]) or {} for j, a in zip(judges, mine, strict=True)]
    out = {
        **row,
        "final_label": None,
        "corrected": None,
        "rationale": None,
        "correct_endpoint": ",".join(j for j, a in zip(judges, mine, strict=True) if a),
        "correct_model": ",".join(a["correct_model"] for a in mine if a),
        **{t: sum(s.get(t) or 0 for s in spent) for t in TOKENS},
        "judges": json.dumps(lineage, ensure_ascii=False),
        "split_vote": split,
        "error": None,
    }
    if all(v is None for v in values):
        reasons = "; ".join(f"{x['judge']}: {x['error']}" for x in lineage)
        return {**out, "error": f"panel: no judge answered ({reasons})"}
    if tie:  # majority with no majority: what step 3 wrote stands
        return {
            **out,
            "final_label": row["initial_label"],
            "corrected": False,
            "rationale": "panel tie: step 3's row kept",
        }
    if chosen is None:
        said = ", ".join(f"{x['judge']} {x.get('answer', x['label'])}" for x in lineage)
        return {**out, "error": f"{'panel disagreement' if split else 'panel incomplete'}: {said}"}
    winner = next(a for a, v in zip(mine, values, strict=True) if a is not None and v == chosen)  # first in order
    final, instance = winner["final_label"], winner["instance"]
    corrected = final != row["initial_label"] or instance != row["instance"]
    return {**out, "final_label": final, "instance": instance, "corrected": corrected, "rationale": winner["rationale"]}


def revote(job: Job, run: RunDir) -> None:
    """A run continued under another vote rule: drop the decided rows (they cost nothing) so that the
    rounds decide them again from the judges' stored answers, sending no request."""
    if not job.panel:
        return
    rule = job.spec.steps.correct.vote
    recorded = (run.read_json(run.panel_file()) or {}).get("vote", rule)
    if recorded != rule:
        say("panel", f"vote {recorded} -> {rule}: deciding every row again from the judges' answers")
        decided = [run.stage_dir("correct"), run.rejects("correct"), run.embeddings()]
        run.delete([p for where in decided for p in run.files(where, recursive=True)])
    run.write_json(run.panel_file(), {"vote": rule, "judges": job.panel})


def decide(job: Job, run: RunDir, round_id: str, on_kept: Callable[[pa.Table], None] | None = None) -> int:
    """Decide the round's generated rows that the panel has not decided yet, into step 4's folder (kept)
    and its rejects; returns how many were decided."""
    answers, failed = _answers(job, run, round_id)
    done = run.done_ids("correct")
    decided = 0
    for part in run.iter_parts(run.stage_dir("generate"), round_id):
        part = part.filter(pc.invert(pc.is_in(part["id"], done)))
        if not part.num_rows:
            continue
        schema = pa.schema([*part.schema, *(pa.field(k, t) for k, t in DECIDED), pa.field("error", pa.string())])
        out = pa.Table.from_pylist([_decide_row(job, r, answers, failed) for r in part.to_pylist()], schema=schema)
        failed_rows = pc.is_valid(out["error"])
        kept = out.filter(pc.invert(failed_rows)).drop_columns(["error"])
        run.write_part(run.stage_dir("correct"), round_id, kept)
        run.write_part(run.rejects("correct"), round_id, out.filter(failed_rows))
        if on_kept is not None:
            on_kept(kept)
        decided += out.num_rows
    for where in (run.stage_dir("correct"), run.rejects("correct")):
        run.compact(where, round_id)
    return decided


def figures(job: Job, run: RunDir) -> dict | None:
    """The panel's agreement over every decided row: per-judge flip rate, pairwise Cohen's kappa,
    Fleiss' kappa (overall and per label or answer), and the share of rows decided by a split vote."""
    if not job.panel:
        return None
    tables = [
        t
        for where in (run.stage_dir("correct"), run.rejects("correct"))
        if (t := run.read(where, columns=["judges", "split_vote"])) is not None
    ]
    rows = [r for t in tables for r in t.to_pylist()]
    key = "answer" if by_answer(job) else "label"
    said = [json.loads(r["judges"]) for r in rows]
    votes = [[x.get(key) for x in judged] for judged in said]
    judges = job.panel
    flips = {}
    for i, judge in enumerate(judges):
        own = [judged[i]["flipped"] for judged in said if judged[i]["flipped"] is not None]
        flips[judge] = round(sum(own) / len(own), 4) if own else None
    pairs = {}
    for i, a in enumerate(judges):
        for j in range(i + 1, len(judges)):
            both = [(v[i], v[j]) for v in votes if v[i] is not None and v[j] is not None]
            pairs[f"{a}~{judges[j]}"] = agreement.cohen([x for x, _ in both], [y for _, y in both])
    full = [v for v in votes if all(x is not None for x in v)]
    fleiss = agreement.fleiss(full)
    return {
        "judges": judges,
        "vote": job.spec.steps.correct.vote,
        "by": key,
        "rows": len(rows),
        "flip_rate": flips,
        "cohen_kappa": pairs,
        "fleiss_kappa": fleiss["kappa"],
        "fleiss_kappa_per_" + key: fleiss["per_category"],
        "split_vote_share": round(sum(bool(r["split_vote"]) for r in rows) / len(rows), 4) if rows else None,
    }
