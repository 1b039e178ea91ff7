"""Turning a service's AfterCommit into queued work, once the transaction has committed.

If Redis is unreachable here nothing is lost: the sweep finds the recorded texts and due layers
in the database and queues them again.
"""

from __future__ import annotations

import logging

from redis.exceptions import RedisError

from rapidresponse.incidents.service import AfterCommit
from rapidresponse.jobs import queues
from rapidresponse.services import Services

log = logging.getLogger(__name__)

# Job functions by name: tasks.py imports this module, not the other way round.
START_INCIDENT = "rapidresponse.jobs.tasks.start_incident"
SEND_TEXTS = "rapidresponse.jobs.tasks.send_texts"
ESCALATE = "rapidresponse.jobs.tasks.escalate"
APPLY_STATUSES = "rapidresponse.jobs.tasks.apply_status_callbacks"
DELETE_AT_PROVIDER = "rapidresponse.jobs.tasks.delete_at_provider"
PLAN_LAYER = "rapidresponse.jobs.tasks.plan_layer"


def batches(ids: list[int], size: int) -> list[list[int]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def dispatch(svc: Services, after: AfterCommit, *, queue: str = queues.URGENT) -> None:
    try:
        if after.start_incident is not None:
            queues.enqueue(svc, queues.URGENT, START_INCIDENT, after.start_incident)
        for incident_id, layer in after.plans:
            queues.enqueue(svc, queues.URGENT, PLAN_LAYER, incident_id, layer)
        for batch in batches(after.send_ids, svc.settings.alert_batch_size):
            queues.enqueue(svc, queue, SEND_TEXTS, batch, queue == queues.BULK)
        for incident_id, when in after.timers:
            queues.enqueue(svc, queues.URGENT, ESCALATE, incident_id, at=when)
    except RedisError as exc:
        log.error("could not queue work (%s); the sweep will pick it up", type(exc).__name__)


def queue_status_drain(svc: Services) -> None:
    """Status callbacks are waiting in Redis: one job applies them (the sweep does too, if this is lost)."""
    try:
        queues.enqueue(svc, queues.STATUS, APPLY_STATUSES)
    except RedisError as exc:
        log.error("could not queue the status callbacks' job (%s); the sweep will apply them", type(exc).__name__)
