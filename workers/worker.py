"""`python -m workers.worker`: an RQ worker (with the scheduler, for escalation timers) plus the sweep.

The sweep recomputes from the database what is due — escalations, texts whose job was lost,
inbound texts whose handling crashed — so Redis holds triggers and the database holds the truth.
"""

from __future__ import annotations

import logging
import sys
import threading
import time

from rq import SimpleWorker
from rq.serializers import JSONSerializer
from sqlalchemy.exc import OperationalError, ProgrammingError

from rapidresponse.cli import database_problem
from rapidresponse.jobs import queues
from rapidresponse.logs import configure_logging
from rapidresponse.privacy import keycheck
from rapidresponse.services import Services, process_services
from rapidresponse.settings import SettingsError
from rapidresponse.trees.model import TreeConfigError

log = logging.getLogger("rapidresponse.worker")


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


def main() -> int:
    configure_logging()
    try:
        svc = process_services()
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
    stop = threading.Event()
    threading.Thread(target=sweep_forever, args=(svc, stop), name="sweep", daemon=True).start()
    worker = SimpleWorker([queues.queue(svc, name) for name in queues.ALL], connection=svc.redis,
                          serializer=JSONSerializer)
    log.info("worker listening on %s (provider: %s)", ", ".join(queues.ALL), svc.settings.provider_name)
    try:
        worker.work(with_scheduler=True, logging_level="WARNING")
    finally:
        stop.set()
    return 0


if __name__ == "__main__":
    sys.exit(main())
