"""A worker heals itself: its scheduler (escalation timers, retries) comes back by itself after a
Redis outage (not at RQ's 10-minute maintenance), the worker survives the outage, and the
scheduler never outlives a worker killed with `kill -9`."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from redis import Redis
from rq.registry import ScheduledJobRegistry
from rq.serializers import JSONSerializer

from rapidresponse.db import utcnow
from rapidresponse.jobs import queues
from rapidresponse.jobs.dispatch import SEND_TEXTS
from tests.e2e.harness import Stack, wait_until

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server to stop and start")


class OwnRedis:
    """A Redis of the test's own, which it can stop and start again (empty, like a restart without
    persistence)."""

    def __init__(self, tmp_path: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._dir = tmp_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self._dir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = Redis.from_url(self.url)
        wait_until(lambda: _pings(client))
        client.close()

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


def _pings(client: Redis) -> bool:
    try:
        return bool(client.ping())
    except Exception:  # noqa: BLE001 - not up yet
        return False


def children(pid: int) -> list[int]:
    """Live (not zombie) child processes of `pid`, from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields and fields[1] == str(pid) and fields[0] != "Z":
                found.append(int(entry))
    return found


def running(pid: int) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


def _stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[1].split()  # state, ppid, ...
    except OSError:
        return None


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    redis = OwnRedis(tmp_path)
    redis.start()
    try:
        yield redis
    finally:
        redis.stop()


@pytest.fixture
def stack(tmp_path: Path, own_redis: OwnRedis) -> Iterator[Stack]:
    s = Stack(tmp_path, REDIS_URL=own_redis.url)
    try:
        yield s
    finally:
        s.close()


def scheduler_of(worker: subprocess.Popen[bytes]) -> int:
    [child] = wait_until(lambda: children(worker.pid))
    return child


def timer_fires(stack: Stack) -> bool:
    """A job set for half a second from now runs: the scheduler is there to move it to its queue."""
    queues.enqueue(stack.svc, queues.URGENT, SEND_TEXTS, [], at=utcnow() + timedelta(seconds=0.5))
    registry = ScheduledJobRegistry(queues.queue(stack.svc, queues.URGENT).name, connection=stack.svc.redis,
                                    serializer=JSONSerializer)
    wait_until(lambda: registry.count == 0 and queues.queue(stack.svc, queues.URGENT).count == 0)
    return True


def test_scheduler_comes_back_within_seconds_of_a_redis_outage(stack: Stack, own_redis: OwnRedis):
    """Redis stops for 3 s: the worker lives on, starts a new scheduler by itself, and timers fire again."""
    worker = stack.start_worker()
    first = scheduler_of(worker)
    assert timer_fires(stack)
    own_redis.stop()
    wait_until(lambda: not running(first))  # RQ's scheduler dies without Redis
    time.sleep(3)
    own_redis.start()
    back = wait_until(lambda: [pid for pid in children(worker.pid) if pid != first])
    assert len(back) == 1
    assert worker.poll() is None, stack.worker_logs()[-2000:]
    assert timer_fires(stack)


def test_scheduler_exits_when_its_worker_is_killed(stack: Stack):
    """`kill -9` of the worker alone (not its process group): its scheduler child exits too."""
    worker = stack.start_worker()
    scheduler = scheduler_of(worker)
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    wait_until(lambda: not running(scheduler))
