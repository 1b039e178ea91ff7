"""Queue names and how work is put on them. Workers listen to URGENT first (alerts, replies,
timers), then STATUS (applying status callbacks), then BULK (broadcasts, welcome texts): a
fan-out's thousands of callbacks never hold up the next batch of an alert, and a broadcast gives
way to urgent work only, while the status drains still run between its steps."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rq import Queue
from rq.serializers import JSONSerializer

from rapidresponse.services import Services

URGENT = "urgent"
STATUS = "status"
BULK = "bulk"
ALL = (URGENT, STATUS, BULK)


def queue(svc: Services, name: str) -> Queue:
    return Queue(svc.settings.queue_prefix + name, connection=svc.redis, serializer=JSONSerializer)


def enqueue(svc: Services, name: str, func: Any, *args: Any, at: datetime | None = None, **kwargs: Any) -> None:
    q = queue(svc, name)
    options: dict[str, Any] = {"result_ttl": 0, "failure_ttl": 7 * 24 * 3600, "job_timeout": 1800}
    if at is None:
        q.enqueue(func, *args, **options, **kwargs)
    else:
        q.enqueue_at(at, func, *args, **options, **kwargs)
