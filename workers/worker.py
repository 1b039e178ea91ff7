"""`python -m workers.worker`: an RQ worker (with the scheduler, for escalation timers) plus the sweep.

The sweep recomputes from the database what is due — escalations, texts whose job was lost,
inbound texts whose handling crashed — so Redis holds triggers and the database holds the truth.

Healing, so timers and retries never wait for RQ's 10-minute maintenance:
- RQ runs its scheduler in a child process, which dies when Redis goes away. The worker looks at
  it every second (from its own loop) and starts it again as soon as Redis answers.
- That child exits when this process dies, even by `kill -9` (PR_SET_PDEATHSIG on Linux, and a
  watch on its parent's pid everywhere), so no orphan holds the scheduler lock.
- A Redis outage that ends RQ's work loop does not end the process: it waits for Redis and works on.
"""

from __future__ import annotations

import ctypes
import faulthandler
import logging
import os
import signal
import sys
import threading
import time
import uuid
from types import FrameType
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from rq import SimpleWorker
from rq.scheduler import RQScheduler
from rq.serializers import JSONSerializer
from sqlalchemy.exc import OperationalError, ProgrammingError

from rapidresponse.cli import database_problem
from rapidresponse.heap import freeze_startup
from rapidresponse.jobs import queues
from rapidresponse.logs import configure_logging
from rapidresponse.priority import run_below_the_web
from rapidresponse.privacy import keycheck
from rapidresponse.services import Services, process_services
from rapidresponse.settings import SettingsError
from rapidresponse.trees.model import TreeConfigError

log = logging.getLogger("rapidresponse.worker")

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
HEAL_INTERVAL_SECONDS = 1.0


def die_with_parent(parent: int) -> None:
    """Make this (child) process exit when `parent` dies, however it dies."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)

    def watch() -> None:
        # Also where prctl is missing, and for a parent that died before prctl took effect.
        while os.getppid() == parent:
            time.sleep(HEAL_INTERVAL_SECONDS)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


class Scheduler(RQScheduler):
    """RQ's scheduler, whose child process goes when the worker that started it goes."""

    _parent = 0

    def start(self) -> Any:
        self._parent = os.getpid()
        return super().start()

    def work(self) -> None:
        die_with_parent(self._parent)
        super().work()


class Worker(SimpleWorker):
    """RQ's SimpleWorker with a scheduler that dies with it and is restarted when it dies.

    The check runs on the worker's own (main) thread, with every heartbeat: RQ's wait for a job
    is cut to a second so heartbeats keep coming while idle. Healing there, rather than from
    another thread, means the scheduler is never forked while a stop is half done, and never
    from a thread.
    """

    # RQ waits up to a minute between reconnection attempts; come back within seconds.
    max_connection_wait_time = 2.0

    def __init__(self, *args: Any, scheduler_name: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # One scheduler name for the life of the process: after an outage ends RQ's work loop, the
        # next loop's scheduler takes back the lock its predecessor held, without waiting for it to expire.
        self.scheduler_name = scheduler_name or uuid.uuid4().hex
        self.stopping = False
        self._looked_at = 0.0

    @property
    def dequeue_timeout(self) -> int:
        return 1

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True
        super().request_stop(signum, frame)

    def _start_scheduler(self, burst: bool = False, logging_level: str | None = "INFO", *args: Any,
                         **kwargs: Any) -> None:
        # RQ's own, with our Scheduler class (RQ has no setting for it).
        self.scheduler = Scheduler(self.queues, connection=self.connection, name=self.scheduler_name,
                                   logging_level=logging_level if logging_level is not None else self.log.level,
                                   serializer=self.serializer)
        self.scheduler.acquire_locks()
        if self.scheduler.acquired_locks:
            self.scheduler.start()

    def heartbeat(self, *args: Any, **kwargs: Any) -> None:
        super().heartbeat(*args, **kwargs)
        self.heal_scheduler()

    def heal_scheduler(self) -> bool:
        """Start the scheduler child again if it died (a Redis outage kills it) and the scheduler
        lock is ours or free, at most once a second. True when it was started again."""
        scheduler = self.scheduler
        if scheduler is None or self.stopping or self._stop_requested:
            return False
        process = scheduler._process
        if process is not None and process.is_alive():  # is_alive() also reaps a dead child
            return False
        if time.monotonic() - self._looked_at < HEAL_INTERVAL_SECONDS:
            return False
        self._looked_at = time.monotonic()
        try:
            scheduler.acquire_locks(auto_start=True)
        except RedisError:
            return False  # Redis still away: look again in a second
        started = scheduler._process
        if started is not None and started is not process and started.is_alive():
            log.warning("scheduler started again (pid %s)", started.pid)
            return True
        return False


def sweep_forever(svc: Services, stop: threading.Event) -> None:
    from rapidresponse.jobs.tasks import sweep

    lock_key = f"{svc.settings.queue_prefix}rr:sweep-lock"
    interval = svc.settings.sweep_interval_seconds
    while not stop.wait(interval):
        try:
            # One sweep at a time across all workers; the lock expires if its holder dies.
            if svc.redis.set(lock_key, "1", nx=True, px=int(max(interval * 4, 30) * 1000)):
                try:
                    counts = sweep()
                    if any(counts.values()):
                        log.info("sweep: %s", counts)
                finally:
                    svc.redis.delete(lock_key)
        except Exception:  # noqa: BLE001 - the sweep must outlive a bad moment
            log.exception("sweep failed; trying again in %.0f s", interval)
            time.sleep(interval)


def wait_for_redis(redis: Redis) -> None:
    wait = 0.1
    while True:
        try:
            redis.ping()
            return
        except RedisError:
            time.sleep(wait)
            wait = min(wait * 2, HEAL_INTERVAL_SECONDS)


def work(svc: Services) -> None:
    """RQ's work loop, started again after anything but a requested stop (a Redis outage)."""
    scheduler_name = uuid.uuid4().hex
    while True:
        worker = Worker([queues.queue(svc, name) for name in queues.ALL], connection=svc.redis,
                        serializer=JSONSerializer, scheduler_name=scheduler_name)
        try:
            worker.work(with_scheduler=True, logging_level="WARNING")
        except RedisError as exc:
            log.warning("worker lost Redis (%s)", type(exc).__name__)
        if worker.stopping:
            return
        log.warning("worker loop ended without a stop request; starting again once Redis answers")
        wait_for_redis(svc.redis)


def main() -> int:
    configure_logging()
    faulthandler.register(signal.SIGUSR1)  # `kill -USR1 <pid>` prints every thread's stack
    try:
        svc = process_services()
        for note in svc.settings.startup_notes:
            log.warning(note)
        keycheck.check(svc.db, svc.settings)
    except SettingsError as exc:  # a bad setting, or a DATA_KEY this database was not encrypted with
        print(f"rapidresponse worker: {exc}", file=sys.stderr)
        return 2
    except TreeConfigError as exc:
        print(f"rapidresponse worker: TREES_FILE: {exc}", file=sys.stderr)
        return 2
    except (OperationalError, ProgrammingError) as exc:
        print(f"rapidresponse worker: {database_problem(exc)}", file=sys.stderr)
        return 2
    run_below_the_web(svc.settings.worker_nice)
    stop = threading.Event()
    threading.Thread(target=sweep_forever, args=(svc, stop), name="sweep", daemon=True).start()
    log.info("worker listening on %s (provider: %s)", ", ".join(queues.ALL), svc.settings.provider_name)
    freeze_startup()
    try:
        work(svc)
    finally:
        stop.set()
    return 0


if __name__ == "__main__":
    sys.exit(main())
