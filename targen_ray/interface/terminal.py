"""A run's terminal shows targen's own lines; Ray's and the libraries' go to a log file in the run dir.

Ray writes to the process's stderr from C++ (core worker messages), from Python loggers that hold
the original stream, and through `warnings`; so the file descriptor itself is pointed at the log
file, and `sys.stderr` (which targen's lines are written to, looked up at each print) at a copy of the
terminal. Workers' output is not forwarded to the driver (it stays in Ray's session logs). Under
`ray job submit` the terminal is the job's log, so `ray job logs` shows the same lines.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Iterator

from ..engine.store import RUN_FILE, RunDir


@contextlib.contextmanager
def quiet(run: RunDir) -> Iterator[str]:
    """Within it, fd 2 goes to a log file, appended to RUN_DIR's when the run dir holds a run after
    (never into a folder that turned out not to be one); yields where the log will be."""
    import ray.data  # noqa: F401 - Ray Data sets up its loggers on import, bound to the stderr of then: the log

    fd, local = tempfile.mkstemp(suffix=".log")
    os.close(fd)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(2)
    try:  # targen's lines go where sys.stderr went: the terminal, or a caller's capture (tests)
        ours = sys.stderr.fileno() == 2
    except (AttributeError, OSError, ValueError):
        ours = False
    terminal = os.fdopen(os.dup(saved), "w", buffering=1) if ours else sys.stderr
    log = open(local, "ab")  # noqa: SIM115 - closed in finally, after fd 2 is given back
    warned = logging.FileHandler(local)
    warnings_logger = logging.getLogger("py.warnings")
    previous = sys.stderr
    os.dup2(log.fileno(), 2)
    sys.stderr = terminal
    logging.captureWarnings(True)
    warnings_logger.addHandler(warned)
    warnings_logger.propagate = False
    try:
        yield f"{str(run).rstrip('/')}/{run.log_file()}"
    finally:
        warnings_logger.removeHandler(warned)
        warnings_logger.propagate = True
        logging.captureWarnings(False)
        warned.close()
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        sys.stderr = previous
        if ours:
            terminal.close()
        log.close()
        _keep(run, local)


def _keep(run: RunDir, local: str) -> None:
    """Best effort, and never an error of its own: it runs while the run's own error is on its way out
    (a run dir that cannot be read or written is that error's business)."""
    try:
        if run.read_json(RUN_FILE) is not None:
            with open(local, "rb") as f:
                run.append_bytes(run.log_file(), f.read())
    except OSError:
        pass
    finally:
        os.unlink(local)
