"""Stage 5's embedding reads: how many at once, and what that costs in memory.

Reads reserve no CPU (the embedding workers hold the CPUs), so nothing but `embed.READ_TASKS` bounds how
many run at once. This embeds EMBED rows of a finished run's 04_corrected (every row group is read; the
rest are skipped as done) into a scratch folder, as its own driver with its own local Ray, once with the
reads bounded and once unbounded, side by side: wall time, peak PSS of the driver and its whole Ray,
and the most worker processes alive at once.

    .venv/bin/python benchmarks/embed_reads.py RUN_DIR [--embed 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from functools import partial
from pathlib import Path

from harness.process import MemoryPeak, session_pids

from targen_ray.engine.store import RUN_FILE, RunDir

ROOT = Path(__file__).resolve().parents[1]


def embed_once(run_dir: str, scratch: str, embed_rows: int, read_tasks: int | None) -> None:
    """The measured process: one embed_parts call over every row group of the run's stage-4 rows."""
    import pyarrow as pa
    import ray

    from targen_ray.config import DedupSpec
    from targen_ray.engine.dedup import embed
    from targen_ray.engine.dedup.decision import features
    from targen_ray.engine.tasks import recorded_task

    run, out = RunDir(run_dir), RunDir(scratch)
    ids = pa.concat_tables(run.iter_parts(RunDir.stage_dir("correct"), columns=["id"]))["id"].combine_chunks()
    skip = ids.slice(embed_rows)  # every row group is still read; only EMBED rows are embedded
    embed.READ_TASKS = read_tasks
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    transform = partial(features, names=recorded_task(run.read_json(RUN_FILE)).text_fields)
    parts = run.parts(RunDir.stage_dir("correct"))
    one = DedupSpec(workers=1, worker_cpus=2)
    made = embed.embed_parts(out, parts, transform, skip, "emb", "r0", one)  # read from the run, written aside
    groups = sum(len(embed.row_group_rows(p, run.fs)) for p in parts)
    print(json.dumps({"embedded": made, "row_groups": groups}))


def _workers(pid: int) -> int:
    count = 0
    for p in session_pids(pid):
        try:
            count += Path(f"/proc/{p}/cmdline").read_bytes().startswith(b"ray::")
        except OSError:
            pass
    return count


def measure(run_dir: str, embed_rows: int, read_tasks: int | None) -> dict:
    with tempfile.TemporaryDirectory(prefix="embed-reads-") as scratch:
        cmd = [sys.executable, __file__, run_dir, "--embed", str(embed_rows), "--child", str(read_tasks), scratch]
        started = time.monotonic()
        env = {**os.environ, "RAY_ADDRESS": ""}
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.PIPE, text=True)
        memory, most, done = MemoryPeak(proc.pid), [0], threading.Event()

        def count() -> None:
            while not done.wait(0.5):
                most[0] = max(most[0], _workers(proc.pid))

        counter = threading.Thread(target=count, daemon=True)
        counter.start()
        out, _ = proc.communicate()
        done.set()
        counter.join()
        memory.stop()
        if proc.returncode != 0:
            raise SystemExit(f"read_tasks={read_tasks}: exit {proc.returncode}")
    return {
        "read_tasks": read_tasks,
        **json.loads([line for line in out.splitlines() if line.startswith("{")][-1]),  # Ray logs to stdout too
        "wall_s": round(time.monotonic() - started, 1),
        "peak_driver_mib": round(memory.driver_mib),
        "peak_total_mib": round(memory.total_mib),
        "most_workers": most[0],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", help="a finished run (e.g. full-size ReCoRD from benchmarks/full_size.py)")
    p.add_argument("--embed", type=int, default=2000, help="rows actually embedded")
    p.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        tasks, scratch = args.child
        embed_once(args.run_dir, scratch, args.embed, None if tasks == "None" else int(tasks))
        return
    from targen_ray.engine.dedup.embed import READ_TASKS

    for read_tasks in (READ_TASKS, None):
        print(json.dumps(measure(args.run_dir, args.embed, read_tasks)), flush=True)


if __name__ == "__main__":
    main()
