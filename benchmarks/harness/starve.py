"""Busy loops that take CPUs from everything else on the machine: what a loaded node does to a worker
(descheduled processes, event loops that run late), for the limiter's starvation tests and benchmark."""

from __future__ import annotations

import contextlib
import subprocess
import sys


@contextlib.contextmanager
def busy_loops(n: int):
    """`n` processes spinning at normal priority until the block ends."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        yield procs
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
