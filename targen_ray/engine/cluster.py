"""Joining a Ray cluster (RAY_ADDRESS, `ray job submit`) or starting a local one, and making sure the
cluster it would join is alive first."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading

import ray

from ..errors import SpecError


def ensure_ray(log_to_driver: bool = True) -> None:
    """Join the cluster in RAY_ADDRESS, or start a local Ray (`check_cluster` first, before any spend).
    `log_to_driver` False: workers' output stays in Ray's session logs (terminal.py keeps the terminal
    for targen's own lines)."""
    if not ray.is_initialized():
        ray.init(address=os.environ.get("RAY_ADDRESS") or None, include_dashboard=False, log_to_driver=log_to_driver)
        if threading.current_thread() is threading.main_thread():
            # `ray job stop` and schedulers send SIGTERM. Ray's own handler (installed by ray.init) exits
            # at once; this one stops the run like Ctrl-C: finished rows are already written.
            signal.signal(signal.SIGTERM, signal.default_int_handler)
    # Our own progress line reads the same in a terminal and in `ray job logs`; Ray Data's bars and
    # per-dataset INFO lines would bury it.
    ray.data.DataContext.get_current().enable_progress_bars = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)


def check_cluster(timeout_s: float = 5.0) -> None:
    """The cluster `ray.init` would join (RAY_ADDRESS, else the one Ray recorded for a cluster started on
    this machine with `ray start`) must answer: Ray itself retries a dead one's GCS forever. The address
    is probed as written (Ray would first resolve 127.0.0.1 to this node's address)."""
    from ray._private import utils

    if ray.is_initialized():
        return
    explicit = os.environ.get("RAY_ADDRESS") or ""
    if explicit == "local":
        return
    recorded = utils.get_ray_address_file(None)
    if explicit and explicit != "auto":
        source, target = "RAY_ADDRESS", explicit.removeprefix("ray://")
    else:
        source, target = f"the cluster Ray recorded in {recorded}", utils.read_ray_address()
    if not target:  # nothing recorded: Ray starts a new local instance
        return
    host, _, port = target.partition("/")[0].rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except (OSError, ValueError) as e:
        reason = getattr(e, "strerror", None) or type(e).__name__
        raise SpecError(
            f"{source}: no Ray cluster answers at {target} ({reason}); start it, or set RAY_ADDRESS=local "
            "to run on a new local Ray"
        ) from None
