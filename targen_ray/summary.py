"""summary.json: rows per stage, rejects by reason, tokens and requests, and the counts identity."""

from __future__ import annotations

from collections import Counter, defaultdict

import pyarrow as pa
import pyarrow.compute as pc

from .job import Job
from .plan import Quotas
from .spec import SPLITS, STEPS
from .store import RunDir


def _rows(t: pa.Table | None) -> int:
    return 0 if t is None else t.num_rows


def _sum(t: pa.Table | None, col: str) -> int:
    return 0 if t is None else int(pc.sum(t[col]).as_py() or 0)


def build(job: Job, run: RunDir, quotas: Quotas, rounds: int, wall_s: float) -> dict:
    stages, reasons, ledger = {}, Counter(), defaultdict(Counter)
    for step in STEPS:
        ok, bad = run.read(run.stage_dir(step).name), run.read(f"rejects/{step}")
        usage = {
            k: _sum(ok, f"{step}_{k}") + _sum(bad, f"{step}_{k}") for k in ("requests", "input_tokens", "output_tokens")
        }
        stages[step] = {"inputs": _rows(ok) + _rows(bad), "kept": _rows(ok), "rejected": _rows(bad), **usage}
        if bad is not None:
            reasons.update(f"{step}: {r.split(':')[0]}" for r in bad["error"].to_pylist())
        for t in (ok, bad):
            if t is None:
                continue
            for row in t.select(
                [
                    f"{step}_endpoint",
                    f"{step}_model",
                    f"{step}_requests",
                    f"{step}_input_tokens",
                    f"{step}_output_tokens",
                ]
            ).to_pylist():
                entry = ledger[f"{row[f'{step}_endpoint']}/{row[f'{step}_model']}"]
                entry.update({k: row[f"{step}_{k}"] for k in ("requests", "input_tokens", "output_tokens")})

    final, labels = {}, job.spec.labels
    for split in SPLITS:
        table = run.read(f"final/{split}")
        counts = Counter(table["label"].to_pylist()) if table is not None else Counter()
        final[split] = {
            "rows": _rows(table),
            "target": sum(q for (s, _), q in quotas.items() if s == split),
            "labels": {labels[i]: counts.get(i, 0) for i in range(len(labels))},
            "label_targets": {labels[i]: quotas[(split, i)] for i in range(len(labels))},
        }
    corrected = run.read("04_corrected")
    planned = stages["generate"]["inputs"]
    surplus = _rows(run.read("surplus"))
    kept = sum(f["rows"] for f in final.values())
    rows = {
        "planned": planned,
        "kept": kept,
        "rejected": stages["generate"]["rejected"] + stages["correct"]["rejected"],
        "surplus": surplus,
        "self_corrected": _sum(corrected, "corrected") if corrected is not None else 0,
    }
    rows["counts_add_up"] = planned == rows["kept"] + rows["rejected"] + rows["surplus"]
    return {
        "job": job.spec.name,
        "task": job.spec.task,
        "spec_hash": job.spec.spec_hash(),
        "complete": all(f["rows"] == f["target"] for f in final.values()),
        "rounds": rounds,
        "splits": final,
        "rows": rows,
        "stages": stages,
        "rejects_by_reason": dict(reasons.most_common()),
        "requests": sum(s["requests"] for s in stages.values()),
        "input_tokens": sum(s["input_tokens"] for s in stages.values()),
        "output_tokens": sum(s["output_tokens"] for s in stages.values()),
        "by_endpoint": {k: dict(v) for k, v in ledger.items()},
        "wall_time_s": round(wall_s, 2),
    }
