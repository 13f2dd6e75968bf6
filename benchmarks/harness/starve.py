"""Busy loops that take CPUs from everything else on the machine: what a loaded node does to a worker
(descheduled processes, event loops that run late), for the limiter's starvation tests and benchmarks.

The loops run at the niceness Ray gives its worker processes (the raylet's `worker_niceness`, 15), so
they take the CPUs from the workers half and half, as other Ray work on a node would. At niceness 0
they would take about 28 of every 29 CPU slices from every Ray worker, the limiter actor included
(the kernel's weights for nice 0 and 15 are 1024 and 36): a 12-row run through Ray Data's actors then
sent 2 requests in its first 90 s. That measures Ray's priorities, not the limiter."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys

RAY_WORKER_NICENESS = 15


@contextlib.contextmanager
def busy_loops(n: int, niceness: int = RAY_WORKER_NICENESS):
    """`n` processes spinning at `niceness` until the block ends."""
    procs = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"], preexec_fn=lambda: os.nice(niceness))
        for _ in range(n)
    ]
    try:
        yield procs
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
