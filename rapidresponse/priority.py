"""A process's scheduling priority below the web's (WORKER_NICE): the workers, and the benches'
fake Twilio that stands in for servers not on our cores."""

from __future__ import annotations

import logging
import os

log = logging.getLogger("rapidresponse.priority")


def run_below_the_web(nice: int) -> int:
    """Run this process at niceness `nice` (never higher in priority than it already is), before
    any thread starts: on Linux a thread's niceness is its own, and threads and child processes
    inherit it from the thread that makes them. Returns the niceness now."""
    if not hasattr(os, "setpriority"):  # not on this platform: the process runs as started
        return 0
    current = os.getpriority(os.PRIO_PROCESS, 0)
    if nice > current:
        try:
            os.setpriority(os.PRIO_PROCESS, 0, nice)
        except OSError as exc:  # a sandbox that forbids it: the process works on at its priority
            log.warning("WORKER_NICE=%d not applied (%s); running at niceness %d", nice, exc.strerror, current)
    return os.getpriority(os.PRIO_PROCESS, 0)
