"""Plans the TarGEN stages and drives them on Ray, round by round, until every label quota is met."""

from __future__ import annotations

import functools
import math
import time
from collections import Counter
from collections.abc import Iterable, Iterator

import pyarrow as pa
import pyarrow.compute as pc
import ray

from ..config import STEPS
from ..errors import BudgetStop, RunError, StageFailed
from . import list_items, panel, plan, probe, split, summary
from .breakers import judged_after
from .cluster import check_cluster, ensure_ray
from .dedup import decision as dedup
from .estimate import estimate
from .execute import Parts, Stage, cancel_superseded, execute
from .ids import stable_id
from .job import Job, check_reachable
from .limits import BudgetActor, limiters_for
from .progress import say
from .steps.contexts import PER_CALL
from .store import RunDir, stamp

LABEL_COLUMNS = ["id", "split", "final_label"]


class Runner:
    def __init__(self, job: Job, run: RunDir, limit: int | None = None, in_driver: bool = False):
        self.job, self.spec, self.run_dir = job, job.spec, run
        self.limit, self.in_driver = limit, in_driver
        self.quotas = plan.quotas(job.spec, limit)
        self.total = sum(self.quotas.values())
        self.seed_calls = 0  # stage-2 requests made so far; numbers the next ones
        # This run's name at the key's limiter: its share among the jobs on the same key and model
        self.limiters = limiters_for(job.endpoints, f"{job.spec.name}-{stable_id(run.uri)[:8]}", job.spec.priority)
        self.budget = BudgetActor.remote(job.spec.budget_usd) if job.spec.budget_usd else None
        self.estimate = estimate(job, limit)
        self.wall_s: Counter = Counter()  # seconds per stage (and the split), for rows/s in summary.json
        self.embedded_live = 0  # rows stage 5 embedded while step 4 was writing them, not yet reported
        self.dry_tries = 0  # rows tried by the rounds since one last kept a row

    def _stage(self, step: str, inputs: pa.Table | list[str], round_id: str) -> None:
        """One step over a round's rows: its one stage, or each judge of step 4's panel then the vote."""
        started = time.monotonic()
        live = dedup.live_embedding(self.job, self.run_dir, round_id) if step == "correct" else None
        voted = step == "correct" and bool(self.job.panel)
        try:
            for name in self.job.stages(step):
                spent = summary.spent_usd(self.run_dir, summary.paying(self.job, self.run_dir))
                if self.budget is not None:  # no request in flight between stages: the written ledger is the truth
                    ray.get(self.budget.sync.remote(spent))
                on_kept = live.add if live and not voted else None
                stage = Stage(
                    self.job, name, self.run_dir, round_id, self.limiters, self.budget, spent, on_kept, self.in_driver
                )
                execute(stage, inputs)
            if voted:
                panel.decide(self.job, self.run_dir, round_id, live.add if live else None)
        finally:
            self.wall_s[step] += time.monotonic() - started
            if live is not None:  # stage 5's time: what was still embedding when the last answer came
                started = time.monotonic()
                self.embedded_live += live.close()
                self.wall_s["dedup"] += time.monotonic() - started

    def _parts(self, where: str, round_id: str) -> Parts:
        paths = self.run_dir.parts(where, round_id)
        ids = [t["id"] for t in self.run_dir.iter_parts(where, round_id, ["id"])]
        return Parts(paths, pa.chunked_array(ids, pa.string()))

    def dedup(self, rounds: int) -> pa.Table:
        """Stage 5 over every round so far: embed the new rows, then decide afresh what is dropped."""
        started = time.monotonic()
        try:
            embedded = dedup.embed_new(self.job, self.run_dir, [f"r{k}" for k in range(rounds)])
            dropped = dedup.decide(self.job, self.run_dir, plan.split_sizes(self.spec, self.limit))
        finally:
            self.wall_s["dedup"] += time.monotonic() - started
        counts = ", ".join(f"{n} {r}" for r, n in sorted(Counter(dropped["reason"].to_pylist()).items()))
        live, self.embedded_live = self.embedded_live, 0
        say(
            "dedup",
            f"{live + embedded} rows embedded ({live} while step 4 wrote them); "
            f"dropped {counts or 'nothing'} ({time.monotonic() - started:.1f} s)",
        )
        return dropped

    def contexts(self) -> pa.Table:
        want = min(self.spec.contexts, max(1, math.ceil(self.total / self.spec.seeds_per_context)))
        made, calls = pa.table({"item_id": [], "item": []}), 0
        for attempt in range(self.spec.max_rounds):
            n_calls = math.ceil((want - made.num_rows) / PER_CALL)
            ids = [stable_id(self.spec.name, "contexts", calls + i) for i in range(n_calls)]
            calls += n_calls
            self._stage("contexts", pa.table({"id": ids, "n": [PER_CALL] * n_calls}), f"r{attempt}")
            done = self.run_dir.read(self.run_dir.stage_dir("contexts"), columns=["id", "contexts"])
            if done is not None:
                kept = list_items.unique([done], "contexts", "context", self.spec.name)
                made = list_items.attach(done, "contexts", kept)
            if made.num_rows >= want:
                break
        if made.num_rows == 0:
            raise RunError(f"step 1 produced no usable contexts; see {self.run_dir.rejects('contexts')}/")
        made = made.slice(0, want)
        return pa.table({"context_id": made["item_id"], "context": made["item"]})

    def seeds(self, contexts: pa.Table, needed: int, round_id: str) -> pa.Table:
        k = self.spec.seeds_per_context
        n_calls = math.ceil(needed / k)
        first, self.seed_calls = self.seed_calls, self.seed_calls + n_calls
        pick = [(first + i) % contexts.num_rows for i in range(n_calls)]
        inputs = pa.table(
            {
                "id": [stable_id(self.spec.name, "seeds", first + i) for i in range(n_calls)],
                "context_id": contexts["context_id"].take(pick),
                "context": contexts["context"].take(pick),
                "n": [k] * n_calls,
            }
        )
        self._stage("seeds", inputs, round_id)
        done = self.run_dir.iter_parts(self.run_dir.stage_dir("seeds"), round_id, ["id", "seeds"])
        kept = list_items.unique(done, "seeds", "seed", self.spec.name)
        return kept.rename_columns(["parent", "position", "seed_id"])

    def _rows(self, where: str, round_id: str) -> int:
        return sum(t.num_rows for t in self.run_dir.iter_parts(where, round_id, ["id"]))

    def _stalled(self, round_no: int) -> str | None:
        """Why to send no further round: this one kept no row, and the rounds since one last kept a row
        tried as many rows as the breaker judges a stage by. Fewer failures are not yet a verdict (a
        small run whose first two step-2 answers were both unusable makes its rows a round later)."""
        round_id = f"r{round_no}"
        if self._rows(self.run_dir.stage_dir("correct"), round_id):
            self.dry_tries = 0
            return None
        # The round's tries are the rows of its first step that kept none: the step that stopped it.
        dry = next(s for s in ("seeds", "generate", "correct") if not self._rows(self.run_dir.stage_dir(s), round_id))
        self.dry_tries += self._rows(self.run_dir.rejects(dry), round_id)
        judged = judged_after(self.spec.stop_window)
        said = f"round {round_no} kept no row after {self.dry_tries} tries (the breaker judges a stage after {judged})"
        if self.dry_tries < judged:
            say(f"round {round_no}", f"{said}: another round")
            return None
        say(f"round {round_no}", f"{said}; no more rounds")
        return said

    def execute(self) -> dict:
        started, corrected = time.time(), self.run_dir.stage_dir("correct")
        contexts = self.contexts()
        need, rounds, yield_, stopped, stalled = dict(self.quotas), 0, 1.0, None, None
        try:
            for round_no in range(self.spec.max_rounds):
                round_id = f"r{round_no}"
                todo = plan.slots(need, self.spec.overgenerate, self.spec.name, round_no, yield_)
                say(f"round {round_no}", f"generating {len(todo)} rows for {sum(need.values())} still needed")
                rounds = round_no + 1
                seeds = self.seeds(contexts, len(todo), round_id)
                slots = plan.assign(self.spec.name, round_no, todo, seeds)
                # The seeds' text stays in stage 2's parts: the Ray tasks reading them join it in.
                with_seeds = functools.partial(plan.with_seeds, slots=slots)
                seeds_parts = self.run_dir.parts(self.run_dir.stage_dir("seeds"), round_id)
                self._stage("generate", Parts(seeds_parts, slots["id"], with_seeds), round_id)
                self._stage("correct", self._parts(self.run_dir.stage_dir("generate"), round_id), round_id)
                dropped = self.dedup(rounds)
                # With top_up, rows dedup dropped are made again: only the survivors fill quotas.
                gone = dropped["id"] if self.spec.dedup.top_up else pa.chunked_array([], pa.string())
                kept = _without(self.run_dir.iter_parts(corrected, round_id, ["id"]), dropped["id"])
                yield_ = sum(t.num_rows for t in kept) / max(len(todo), 1)
                done = _without(self.run_dir.iter_parts(corrected, columns=LABEL_COLUMNS), gone)
                need = plan.shortfall(self.quotas, sum(map(_label_counts, done), Counter()))
                stalled = self._stalled(round_no) if need else None
                if stalled or not need:
                    break
        except BudgetStop as e:  # keep, dedup and split everything paid for so far
            stopped = str(e)
            dropped = self.dedup(rounds)
        except StageFailed as e:  # more rounds would fail the same way: the run ends short, saying why
            stalled = str(e)
            say(f"round {rounds - 1}", f"{stalled}; no more rounds")
            dropped = self.dedup(rounds)
        split_started = time.monotonic()
        split.write(self.job, self.run_dir, self.quotas, dropped["id"])
        self.wall_s["split"] += time.monotonic() - split_started
        result = summary.build(
            self.job, self.run_dir, self.quotas, rounds, time.time() - started, stopped, self.wall_s, stalled
        )
        result["split_wall_s"] = round(self.wall_s["split"], 2)
        result["dedup"]["wall_s"] = round(self.wall_s["dedup"], 2)
        result["estimate_vs_actual"] = summary.versus(self.estimate, result["stages"])
        result["log"] = self.run_dir.log_file()  # where `targen run` keeps Ray's and the libraries' lines
        self.run_dir.write_json(self.run_dir.summary_file(), result)
        return result


def _without(tables: Iterable[pa.Table], ids: pa.ChunkedArray) -> Iterator[pa.Table]:
    ids = pa.chunked_array(ids, pa.string()).combine_chunks()
    return (t.filter(pc.invert(pc.is_in(t["id"], ids))) for t in tables)


def _label_counts(table: pa.Table) -> Counter:
    counts = table.group_by(["split", "final_label"]).aggregate([("split", "count")]).to_pydict()
    return Counter(
        dict(zip(zip(counts["split"], counts["final_label"], strict=True), counts["split_count"], strict=True))
    )


def later_stages(stages: list[str]) -> list[str]:
    """The stages to redo when `stages` change: the earliest named and every one after it."""
    unknown = sorted(set(stages) - set(STEPS))
    if unknown:
        raise ValueError(f"unknown stage {', '.join(unknown)} (stages: {', '.join(STEPS)})")
    return list(STEPS[min(STEPS.index(s) for s in stages) :]) if stages else []


def stages_of(job: Job, steps: list[str]) -> list[str]:
    """Every stage whose folders hold a step's rows: the step's, and its panel judges' where it has one."""
    return [stage for step in steps for stage in dict.fromkeys([step, *job.stages(step)])]


def run(
    job: Job,
    run_dir: str,
    limit: int | None = None,
    force: list[str] = (),
    files: dict | None = None,
    log_to_driver: bool = True,
    in_driver: bool = False,
) -> dict:
    """Run the job into `run_dir`, or continue the run already there; with `force`, a run of a changed
    job redoes those stages (and all later ones) and keeps the rest. `in_driver`: online steps send
    from the driver, without Ray Data's actors (small runs; the run directory is the same either way)."""
    check_cluster()  # first: a dead cluster makes every endpoint moot
    check_reachable(job)
    folder = RunDir(run_dir)
    redo = later_stages(list(force))
    state = folder.claim(job.identity(limit), files, stages_of(job, redo))
    if state == "resume":
        say("resume", f"continuing the run in {folder}" + (" (spec unchanged: --force ignored)" if redo else ""))
    elif state == "redo":
        say("redo", f"job changed: redoing {', '.join(redo)} in {folder}; earlier stages kept")
    cancel_superseded(job, folder)  # on every run: a run that died right after the redo's move still cancels
    panel.revote(job, folder)
    job = probe.resolve(job, folder)
    ensure_ray(log_to_driver)
    return Runner(job, folder, limit, in_driver).execute()


def retry_rejects(
    job: Job, run_dir: str, limit: int | None, steps: list[str], log_to_driver: bool = True, in_driver: bool = False
) -> dict:
    """Send a run's rejected rows of `steps` again, then finish the run (split, summary).

    The rejects move to retried/ (still in the cost ledger, no longer done), so the stages send them
    again under the same ids, each with a new sample number and so a new request seed.
    """
    check_cluster()
    check_reachable(job)
    folder = RunDir(run_dir)
    folder.claim(job.identity(limit))
    moved = {}
    for step in stages_of(job, steps):
        moved[step] = sum(t.num_rows for t in folder.iter_parts(folder.rejects(step), columns=["id"]))
        folder.move(folder.rejects(step), folder.retried(step), stamp())
    say("retry", f"sending again: {', '.join(f'{n} {s}' for s, n in moved.items())} rejected rows")
    job = probe.resolve(job, folder)
    ensure_ray(log_to_driver)
    return Runner(job, folder, limit, in_driver).execute()


__all__ = ["retry_rejects", "run"]
