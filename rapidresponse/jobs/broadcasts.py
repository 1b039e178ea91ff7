"""A broadcast's jobs: planning its texts chunk by chunk, then a send chain that works through
them at BULK priority, one step at a time, each step queueing the next.

One chain per broadcast holds its fencing token (`Broadcast.chain`); the sweep starts a new one
when a chain stops stepping (job lost, worker dead), and the old one, should it wake, stops.
Each step claims only what the shared rate limit sends in a quarter of a lease, and gives way
to urgent work between claims: a raid alert queued meanwhile goes first, then the broadcast
carries on where it was.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from redis.exceptions import RedisError

from rapidresponse.broadcasts import service as broadcasts
from rapidresponse.broadcasts.models import BroadcastStatus
from rapidresponse.db import utcnow
from rapidresponse.jobs import queues
from rapidresponse.services import Services, process_services

log = logging.getLogger(__name__)

PLAN_BROADCAST = "rapidresponse.jobs.broadcasts.plan_broadcast"
SEND_BROADCAST = "rapidresponse.jobs.broadcasts.send_broadcast"


def start(svc: Services, broadcast_id: int) -> None:
    """After the broadcast is committed: plan it (the sweep does, should Redis be down now)."""
    try:
        queues.enqueue(svc, queues.BULK, PLAN_BROADCAST, broadcast_id)
    except RedisError as exc:
        log.error("could not queue broadcast %s (%s); the sweep will", broadcast_id, type(exc).__name__)


def plan_broadcast(broadcast_id: int, start_chain: bool = True) -> dict[str, int]:
    """Write the broadcast's texts, a chunk per transaction (a cancel can land between any two),
    and start its send chain once the first chunk is in (the sweep, resuming, starts its own)."""
    svc = process_services()
    planned, chain_started = 0, not start_chain
    while True:
        with svc.db.session() as session:
            step = broadcasts.plan_chunk(session, svc.cipher, svc.trees, broadcast_id, utcnow(),
                                        chunk=broadcasts.PLAN_CHUNK)
        planned += step.planned
        if not chain_started and (step.planned or step.finished):
            # Sending starts with the first chunk written; the chain waits for the planner after.
            with svc.db.session() as session:
                chain = session.scalar(broadcasts.chain_of(broadcast_id))
            if chain is not None:
                queues.enqueue(svc, queues.BULK, SEND_BROADCAST, broadcast_id, chain)
            chain_started = True
        if step.finished or step.stopped:
            return {"planned": planned}


def step_size(svc: Services) -> int:
    """Texts per step: what the rate limit sends in a quarter of a lease (the whole batch size
    when unlimited), so a step never outlives its heartbeat."""
    settings = svc.settings
    rate = settings.send_rate_segments_per_second
    if rate <= 0:
        return settings.alert_batch_size
    return max(1, min(settings.alert_batch_size, int(rate * settings.send_lease_seconds / 4)))


def send_broadcast(broadcast_id: int, chain: int) -> dict[str, int]:
    from rapidresponse.jobs.tasks import process_sender

    svc = process_services()
    lease = timedelta(seconds=svc.settings.send_lease_seconds)
    with svc.db.session() as session:
        step = broadcasts.next_step(session, broadcast_id, chain, utcnow(), lease=lease, limit=step_size(svc))
    sent = deferred = 0
    if step.ids:
        urgent = queues.queue(svc, queues.URGENT)
        outcome = process_sender().send(step.ids, give_way=lambda: urgent.count > 0)
        sent, deferred = outcome.sent, len(outcome.deferred)
    if step.go_on:
        # Behind any urgent job waiting (workers take URGENT first): a deferred step resumes after it.
        queues.enqueue(svc, queues.BULK, SEND_BROADCAST, broadcast_id, chain, at=step.at)
    return {"sent": sent, "deferred": deferred}


def resume_stalled(svc: Services, now: datetime) -> int:
    """The sweep's part: a live broadcast whose chain stopped stepping gets a new chain (and its
    planner again, if it was planning). Returns how many were resumed."""
    lease = timedelta(seconds=svc.settings.send_lease_seconds)
    with svc.db.session() as session:
        taken = broadcasts.stalled(session, now, lease)
    try:
        for broadcast_id, chain, status in taken:
            if status == BroadcastStatus.PLANNING.value:
                queues.enqueue(svc, queues.BULK, PLAN_BROADCAST, broadcast_id, False)
            queues.enqueue(svc, queues.BULK, SEND_BROADCAST, broadcast_id, chain)
    except RedisError:
        log.error("sweep could not queue %d stalled broadcasts; their heartbeat is stale again next lease",
                  len(taken))
    return len(taken)
