"""Queue names and how work is put on them. Urgent work (alerts, replies, timers) is always
taken before bulk work (broadcasts, welcome texts): workers listen to URGENT first."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rq import Queue
from rq.serializers import JSONSerializer

from rapidresponse.services import Services

URGENT = "urgent"
BULK = "bulk"
ALL = (URGENT, BULK)


def queue(svc: Services, name: str) -> Queue:
    return Queue(svc.settings.queue_prefix + name, connection=svc.redis, serializer=JSONSerializer)


def enqueue(svc: Services, name: str, func: Any, *args: Any, at: datetime | None = None, **kwargs: Any) -> None:
    q = queue(svc, name)
    options: dict[str, Any] = {"result_ttl": 0, "failure_ttl": 7 * 24 * 3600, "job_timeout": 1800}
    if at is None:
        q.enqueue(func, *args, **options, **kwargs)
    else:
        q.enqueue_at(at, func, *args, **options, **kwargs)
