"""The job functions workers run. Each takes ids, re-checks the database, and is safe to repeat."""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from redis.exceptions import RedisError
from sqlalchemy import update

from rapidresponse.db import utcnow
from rapidresponse.debriefs import service as debriefs
from rapidresponse.drills import service as drills
from rapidresponse.duty import coverage
from rapidresponse.duty import service as duty
from rapidresponse.escalation import service as escalation
from rapidresponse.hotline import service as hotline
from rapidresponse.inbound import service as inbound
from rapidresponse.incidents.service import AfterCommit
from rapidresponse.jobs import broadcasts as broadcast_jobs
from rapidresponse.jobs import campaigns as campaign_jobs
from rapidresponse.jobs import queues
from rapidresponse.jobs.dispatch import DELETE_AT_PROVIDER, SEND_TEXTS, batches, dispatch, queue_status_drain
from rapidresponse.messaging import deletes, delivery
from rapidresponse.messaging.models import OutboundMessage
from rapidresponse.messaging.sender import Outcome, Sender
from rapidresponse.messaging.status_inbox import StatusInbox
from rapidresponse.privacy import retention
from rapidresponse.services import Services, process_services

log = logging.getLogger(__name__)


@functools.cache
def process_sender() -> Sender:
    """One sender (and its thread pool) per worker process."""
    return Sender(process_services())


def start_incident(incident_id: int) -> None:
    """A new report: alert its first layer, sending the first batch right here to save a hop (a
    bigger layer's planning goes on meanwhile in a `plan_layer` job, on another worker if one is free)."""
    svc = process_services()
    with svc.db.session() as session:
        after = escalation.evaluate(svc, session, incident_id, utcnow())
    first, rest = after.send_ids[: svc.settings.alert_batch_size], after.send_ids[svc.settings.alert_batch_size :]
    after.send_ids = rest
    dispatch(svc, after)
    if first:
        send_now(svc, first)


def plan_layer(incident_id: int, layer: int) -> dict[str, int]:
    """Record the rest of a big layer a chunk per transaction, queueing each chunk's sends as soon
    as it is committed: the first chunk is already on its way (start_incident sent it). Safe to run
    twice at once: each chunk is written by whoever moves the layer's cursor on."""
    svc = process_services()
    planned = 0
    while True:
        with svc.db.session() as session:
            step = escalation.plan_chunk(svc, session, incident_id, layer, utcnow())
        planned += len(step.send_ids)
        after = AfterCommit(send_ids=step.send_ids)
        after.extend(step.after)
        dispatch(svc, after)
        if step.done:
            return {"planned": planned}


def escalate(incident_id: int) -> None:
    """A layer's wait is over (or may be: a stale or duplicate timer finds nothing to do)."""
    svc = process_services()
    with svc.db.session() as session:
        after = escalation.evaluate(svc, session, incident_id, utcnow())
    dispatch(svc, after)


def send_texts(message_ids: list[int], bulk: bool = False) -> dict[str, int]:
    svc = process_services()
    outcome = send_now(svc, message_ids, bulk=bulk)
    return {"sent": outcome.sent, "failed": outcome.failed, "retry": len(outcome.retry),
            "deferred": len(outcome.deferred)}


def send_now(svc: Services, message_ids: list[int], *, bulk: bool = False) -> Outcome:
    give_way = None
    if bulk:
        # A bulk batch at a low rate can hold a worker for minutes: between chunks it steps aside
        # for any urgent job waiting (a new raid alert) and puts its remainder back in line.
        urgent = queues.queue(svc, queues.URGENT)
        give_way = lambda: urgent.count > 0  # noqa: E731
    outcome = process_sender().send(message_ids, give_way=give_way)
    if outcome.deferred:
        queues.enqueue(svc, queues.BULK, SEND_TEXTS, outcome.deferred, True)
    if outcome.calls:
        dispatch(svc, AfterCommit(send_ids=outcome.calls))  # a failed text's alert call: urgent
    if outcome.retry:
        # 429, 5xx, 30001/30008: back off (messaging/retry.py) and try again; the intent stays
        # recorded meanwhile, so the sweep sends it should this timer be lost.
        queues.enqueue(svc, queues.BULK if bulk else queues.URGENT, SEND_TEXTS, outcome.retry, bulk,
                       at=outcome.retry_at or utcnow() + timedelta(seconds=5))
    return outcome


# How long one drain job applies status callbacks before it queues its own continuation: during a
# fan-out callbacks arrive as fast as texts go, and a drain that ran until none were left would hold
# its worker while new urgent work (the next alert, a reply) waited behind it.
STATUS_DRAIN_SECONDS = 2.0


def apply_status_callbacks() -> int:
    """Apply the status callbacks the webhook handed on, in batches (safe to run any number of times),
    for STATUS_DRAIN_SECONDS at most; what is left goes on in a new job, behind any urgent one."""
    svc = process_services()
    inbox = StatusInbox.of(svc)
    done = inbox.drain(lambda updates: apply_and_dispatch(svc, updates, utcnow()), budget=STATUS_DRAIN_SECONDS)
    if inbox.schedule():
        queue_status_drain(svc)
    return done


def apply_and_dispatch(svc: Services, updates: Sequence[delivery.StatusUpdate], now: datetime) -> int:
    """Apply a batch of status callbacks, then queue the alert calls failed texts fell back to."""
    after = AfterCommit()
    changed = delivery.apply_statuses(svc, updates, now, after)
    dispatch(svc, after)
    return changed


def sweep() -> dict[str, int]:
    """Recompute from the database what is due, so a lost Redis job never loses work."""
    svc = process_services()
    now = utcnow()
    counts = {"escalations": 0, "texts": 0, "inbound": 0}
    with svc.db.session() as session:
        due = escalation.due_incidents(session, now)
    for incident_id in due:
        with svc.db.session() as session:
            after = escalation.evaluate(svc, session, incident_id, now)
        dispatch(svc, after)
        counts["escalations"] += 1
    lease = svc.settings.send_lease_seconds
    with svc.db.session() as session:
        # A planner writes a chunk every fraction of a second; one silent this long has died.
        stalled = escalation.stalled_plans(session, now, timedelta(seconds=lease / 4))
    for incident_id, layer in stalled:
        dispatch(svc, AfterCommit(plans=[(incident_id, layer)]))
    counts["plans_resumed"] = len(stalled)
    with svc.db.session() as session:
        stuck = escalation.pending_sends(session, now, lease)
        if stuck:
            # So the next sweep does not queue them again while this job waits its turn.
            session.execute(update(OutboundMessage).where(OutboundMessage.id.in_(stuck)).values(requeued_at=now))
    try:
        for batch in batches(stuck, svc.settings.alert_batch_size):
            queues.enqueue(svc, queues.URGENT, SEND_TEXTS, batch)
    except RedisError:
        log.error("sweep could not queue %d texts", len(stuck))
    counts["texts"] = len(stuck)
    with svc.db.session() as session:
        waiting = inbound.unhandled(session, now - timedelta(seconds=30))
    for sid in waiting:
        handled = inbound.handle_stored(svc, sid, now, reply_by_text=True)
        dispatch(svc, handled.after)
        counts["inbound"] += 1
    try:
        counts["statuses"] = StatusInbox.of(svc).drain(lambda updates: apply_and_dispatch(svc, updates, now))
    except RedisError:
        log.error("sweep could not reach the status callbacks in Redis")
    counts["drills_closed"] = close_overdue_drills(svc, now)
    with svc.db.session() as session:
        asked = debriefs.send_due(session, svc.cipher, now)
    dispatch(svc, AfterCommit(send_ids=asked))
    counts["debriefs"] = len(asked)
    counts["broadcasts"] = broadcast_jobs.resume_stalled(svc, now)
    stranded = hotline.report_stranded(svc, now)
    for after in stranded:
        dispatch(svc, after)
    counts["stranded_reports"] = len(stranded)
    counts["campaigns_ended"] = campaign_jobs.sweep(svc, now)
    with svc.db.session() as session:
        counts["missed_calls"] = hotline.give_up_stale_calls(session, now)
    counts["pauses_ended"] = end_pauses(svc, now)
    counts["duty_warnings"] = check_coverage_if_due(svc, now)
    counts["purged"] = purge_if_due(svc, now)
    counts["provider_deletes"] = queue_provider_deletes(svc, now)
    svc.db.checkpoint()  # the WAL into the database file here, not in some request's commit (db.py)
    return counts


def end_pauses(svc: Services, now: datetime) -> int:
    """Pauses that ran out: lifted, and each member told once (bulk: alerts come first)."""
    with svc.db.session() as session:
        ids = duty.end_pauses(session, svc.cipher, now)
        duty.drop_old_load(session, now)
    dispatch(svc, AfterCommit(send_ids=ids), queue=queues.BULK)
    return len(ids)


COVERAGE_EVERY_SECONDS = 300


def check_coverage_if_due(svc: Services, now: datetime) -> int:
    """Count every layer's people on duty at most every 5 minutes across all workers; coordinators
    hear of a layer short of its quorum once a day at most (duty/coverage.py)."""
    try:
        if not svc.redis.set(f"{svc.settings.queue_prefix}rr:coverage", "1", nx=True, ex=COVERAGE_EVERY_SECONDS):
            return 0
    except RedisError:
        log.error("sweep could not reach Redis to pace the duty check; it runs at the next sweep")
        return 0
    with svc.db.session() as session:
        ids = coverage.check(session, svc.cipher, svc.trees, now)
    dispatch(svc, AfterCommit(send_ids=ids), queue=queues.BULK)
    return len(ids)


def close_overdue_drills(svc: Services, now: datetime) -> int:
    """End the drills nobody ended, DRILL_MINUTES after they started."""
    with svc.db.session() as session:
        overdue = drills.overdue(session, now, svc.settings.drill_minutes)
    for incident_id in overdue:
        with svc.db.session() as session:
            after = drills.close_overdue(svc, session, incident_id, now)
        dispatch(svc, after)
    return len(overdue)


def queue_provider_deletes(svc: Services, now: datetime) -> int:
    """Claim the texts due for deletion at the provider and queue them (bulk: sends come first)."""
    if not svc.settings.provider_delete:
        return 0
    settings = svc.settings
    kept = deletes.RecordingsKept(after_close=timedelta(hours=settings.recording_keep_hours),
                                  at_most=timedelta(days=settings.retention_days) if settings.retention_days else None)
    with svc.db.session() as session:
        due = deletes.claim_due(session, now, timedelta(seconds=settings.provider_delete_delay_seconds),
                                recordings=kept)
    size = settings.alert_batch_size
    try:
        for start in range(0, max(len(due.outbound), len(due.inbound), len(due.recordings), len(due.calls),
                                  len(due.legs)), size):
            queues.enqueue(svc, queues.BULK, DELETE_AT_PROVIDER, due.outbound[start : start + size],
                           due.inbound[start : start + size], due.recordings[start : start + size],
                           due.calls[start : start + size], due.legs[start : start + size])
    except RedisError:
        log.error("sweep could not queue provider deletes; their claims run out and they are queued again")
    return len(due.outbound) + len(due.inbound) + len(due.recordings) + len(due.calls) + len(due.legs)


def delete_at_provider(outbound_ids: list[int], inbound_ids: list[int],
                       recording_ids: list[int] | None = None, call_ids: list[int] | None = None,
                       leg_ids: list[int] | None = None) -> dict[str, int]:
    """Delete these texts, hotline recordings, hotline calls and campaign calls' bridged legs at the
    provider and forget their ids; refusals are tried again later."""
    svc = process_services()
    done = deletes.delete_claimed(svc, deletes.Due(outbound_ids, inbound_ids, recording_ids or [], call_ids or [],
                                                   leg_ids or []), utcnow)
    return {"deleted": done.deleted, "already_gone": done.already_gone, "retry": done.retry}


def purge_if_due(svc: Services, now: datetime) -> int:
    """Apply RETENTION_DAYS at most once an hour across all workers."""
    days = svc.settings.retention_days
    if not days or not svc.redis.set(f"{svc.settings.queue_prefix}rr:purged", "1", nx=True, ex=3600):
        return 0
    with svc.db.session() as session:
        purged = retention.purge(session, now - timedelta(days=days))
    if purged.incidents or purged.texts_out or purged.texts_in or purged.simulated:
        log.info("retention: deleted %s", purged)
        if not svc.db.truncate_log():
            log.warning("retention: the write-ahead log was busy; it will be emptied at the next purge")
    return purged.incidents + purged.texts_out + purged.texts_in + purged.simulated
