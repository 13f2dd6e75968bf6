"""Where a run's memory goes: `targen run` of a job against the fake server (as in full_size.py), and
every 2 s one line with the PSS (MiB) of each kind of process in the driver's session (driver, worker
actors, Ray's own processes), the shared memory in use (/dev/shm: the object store), and the run's
last progress line. Ends with the peak total, the wall time and each stage's wall time.

    .venv/bin/python benchmarks/memory_trace.py [--job record] [--limit 24000]   # no --limit: full size
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from harness.process import FakeProcess, pss_kib, session_pids

from targen_ray.engine.store import RunDir

ROOT = Path(__file__).resolve().parents[1]
RAY_PROCESSES = ("raylet", "gcs_server", "dashboard", "log_monitor", "runtime_env", "monitor.py")


def kind(pid: int, driver: int) -> str:
    """A short name for a process: driver, one of Ray's own, or a worker by its Ray title."""
    if pid == driver:
        return "driver"
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "?"
    for name in RAY_PROCESSES:
        if name in cmdline:
            return name
    return (cmdline.split() or ["?"])[0].removeprefix("ray::")[:48]


def follow(stream, last: list[str]) -> None:
    """Keep the last progress line (they end in \\r on a terminal, \\n otherwise)."""
    line = ""
    while ch := stream.read(1):
        if ch in "\r\n":
            last[0] = line.strip()[:100] or last[0]
            line = ""
        else:
            line += ch


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--job", default="record")
    p.add_argument("--limit", type=int)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="targen-trace-") as tmp:
        fake = FakeProcess(Path(tmp))
        try:
            endpoints = fake.endpoints(writer="openai", judge="openai", workers=2, max_concurrency=32, timeout_s=60)
            cmd = [sys.executable, "-m", "targen_ray", "run", str(ROOT / "jobs" / f"{args.job}.yaml")]
            cmd += ["--endpoints", str(endpoints), "--run-dir", f"{tmp}/run"]
            cmd += ["--limit", str(args.limit)] if args.limit else []
            env = {**os.environ, "RAY_ADDRESS": "", "FAKE_API_KEY": "sk-bench"}
            started, peak, last = time.monotonic(), 0.0, [""]
            run = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True, stderr=subprocess.PIPE, text=True)
            threading.Thread(target=follow, args=(run.stderr, last), daemon=True).start()
            while run.poll() is None:
                mib, count = collections.Counter(), collections.Counter()
                for pid in session_pids(run.pid):
                    name = kind(pid, run.pid)
                    mib[name] += pss_kib(pid) / 1024
                    count[name] += 1
                peak = max(peak, sum(mib.values()))
                shm = os.statvfs("/dev/shm")
                shm_mib = (shm.f_blocks - shm.f_bfree) * shm.f_frsize / 2**20
                kinds = " ".join(
                    f"{k}={v:.0f}" + (f"x{count[k]}" if count[k] > 1 else "") for k, v in mib.most_common() if v > 60
                )
                elapsed, total = time.monotonic() - started, sum(mib.values())
                print(f"{elapsed:6.0f}s total={total:5.0f} shm={shm_mib:4.0f} {kinds} | {last[0]}", flush=True)
                time.sleep(2)
            summary = Path(tmp, "run", RunDir.summary_file())
            stages = json.loads(summary.read_text())["stages"] if summary.exists() else {}
        finally:
            fake.stop()
    print(f"exit {run.returncode}, peak total {peak:.0f} MiB, wall {time.monotonic() - started:.0f} s")
    print("stage wall s:", {step: s["wall_s"] for step, s in stages.items()})


if __name__ == "__main__":
    main()
