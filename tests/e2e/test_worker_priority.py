"""Workers run below the web (WORKER_NICE): every thread of a worker and its scheduler child, so a
hotline caller waiting for the web's answer is not kept waiting by a fan-out on the same cores."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import Stack, wait_until
from tests.e2e.test_worker_healing import children, running

pytestmark = pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads niceness from /proc")


def niceness_of_every_thread(pid: int) -> set[int]:
    """The niceness of each thread (task) of `pid`: field 19 of /proc/<pid>/task/<tid>/stat."""
    found = set()
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/stat", encoding="ascii", errors="replace") as f:
            found.add(int(f.read().rsplit(")", 1)[1].split()[16]))
    return found


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    s = Stack(tmp_path, WORKER_NICE="7")
    try:
        yield s
    finally:
        s.close()


def test_a_worker_its_threads_and_its_scheduler_run_at_worker_nice(stack: Stack):
    worker = stack.start_worker()
    [scheduler] = wait_until(lambda: children(worker.pid))
    # The sweep thread is up once the worker has more than its main thread.
    wait_until(lambda: len(os.listdir(f"/proc/{worker.pid}/task")) > 1)
    assert niceness_of_every_thread(worker.pid) == {7}
    assert running(scheduler) and niceness_of_every_thread(scheduler) == {7}


def test_a_worker_does_its_work_at_that_niceness(stack: Stack):
    """Lower priority, not less work: an alert still goes out from a worker running at 7."""
    stack.member("+12135550101", roles="responder", trees={"ice": 1})
    stack.start_worker()
    stack.text("+12135550199", "ICE at the corner of 5th and Main")
    wait_until(lambda: stack.received("+12135550101"))


def test_a_worker_that_may_not_lower_its_priority_says_so_and_works_on(monkeypatch, caplog):
    """A sandbox that refuses setpriority does not stop the worker: one warning naming the setting."""
    from rapidresponse.priority import run_below_the_web

    def refused(*_: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "getpriority", lambda *_: 0)
    monkeypatch.setattr(os, "setpriority", refused)
    with caplog.at_level("WARNING", logger="rapidresponse.priority"):
        assert run_below_the_web(10) == 0
    assert "WORKER_NICE=10 not applied (Operation not permitted)" in caplog.text
