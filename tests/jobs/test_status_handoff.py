"""Status callbacks are answered with almost no work and applied in bulk by a job: never backwards,
idempotent, nothing lost when a drainer crashes, and nothing personal in Redis or the job."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from unittest import mock

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from rq import Queue
from rq.serializers import JSONSerializer

from rapidresponse.jobs import queues
from rapidresponse.jobs.dispatch import APPLY_STATUSES
from rapidresponse.messaging import delivery
from rapidresponse.messaging.delivery import StatusUpdate
from rapidresponse.messaging.status_inbox import StatusInbox
from tests.conftest import ACCOUNT_SID, FROM_NUMBER, signed_post
from tests.web import test_twilio_status as status_tests
from tests.web.test_twilio_status import RESPONDER, deliveries, state

NOW = datetime(2025, 3, 4, 9, 31, tzinfo=UTC)


@pytest.fixture
def alert(svc) -> tuple[int, int, str]:
    """An incident's alert to a responder, accepted by Twilio: (incident id, message id, SID)."""
    return status_tests.alert.__wrapped__(svc, status_tests.responder.__wrapped__(svc))


def post_callback(client, sid: str, status: str, message_id: int, error: int | None = None):
    """Twilio's callback as it arrives, with the number and everything else Twilio adds."""
    params = {"MessageSid": sid, "SmsSid": sid, "MessageStatus": status, "SmsStatus": status,
              "AccountSid": ACCOUNT_SID, "From": FROM_NUMBER, "To": RESPONDER, "ApiVersion": "2010-04-01"}
    if error is not None:
        params["ErrorCode"] = str(error)
    return signed_post(client, "/twilio/status", params, query=f"m={message_id}")


def drain(svc, inbox: StatusInbox | None = None) -> int:
    return (inbox or StatusInbox.of(svc)).drain(lambda updates: delivery.apply_statuses(svc, updates, NOW))


def queued_jobs(svc) -> list:
    q = Queue(svc.settings.queue_prefix + queues.STATUS, connection=svc.redis, serializer=JSONSerializer)
    return [q.fetch_job(job_id) for job_id in q.job_ids]


def test_webhook_answers_before_the_database_is_touched(client, svc, alert):
    """The callback gets its 204 with the text untouched; the job then applies it."""
    incident_id, message_id, sid = alert
    assert post_callback(client, sid, "delivered", message_id).status_code == 204
    assert state(svc, message_id)[0] == "queued"
    assert drain(svc) == 1
    assert state(svc, message_id)[0] == "delivered"
    assert deliveries(svc, incident_id) == ["delivered"]


def test_many_callbacks_queue_one_job_that_carries_nothing(client, svc, alert):
    """A burst of callbacks queues a single drain job, with no arguments at all."""
    _, message_id, sid = alert
    for status in ("queued", "sent", "delivered", "delivered"):
        assert post_callback(client, sid, status, message_id).status_code == 204
    jobs = [j for j in queued_jobs(svc) if j.func_name == APPLY_STATUSES]
    assert len(jobs) == 1 and jobs[0].args == [] and jobs[0].kwargs == {}


def test_redis_holds_no_number_or_body(client, svc, alert):
    """What waits in Redis is the SID, status, our id and the error code: never the To/From number."""
    _, message_id, sid = alert
    post_callback(client, sid, "undelivered", message_id, error=30003)
    inbox = StatusInbox.of(svc)
    [raw] = svc.redis.lrange(inbox.pending, 0, -1)
    assert raw.decode() == f"{sid} undelivered {message_id} 30003"
    dump = json.dumps([k.decode() for k in svc.redis.keys("*")] + [raw.decode()])
    assert RESPONDER[-10:] not in dump and FROM_NUMBER[-10:] not in dump


def test_out_of_order_callbacks_in_one_batch_never_go_backwards(client, svc, alert):
    """delivered, then a late sent and queued, applied together: the text stays delivered."""
    incident_id, message_id, sid = alert
    for status in ("delivered", "sent", "queued", "delivered"):
        post_callback(client, sid, status, message_id)
    assert drain(svc) == 4
    assert state(svc, message_id)[0] == "delivered"
    assert deliveries(svc, incident_id) == ["delivered"]


def test_applying_the_same_callbacks_twice_changes_nothing(svc, alert):
    """A replayed batch (a drainer that crashed after applying, before clearing) is a no-op."""
    incident_id, message_id, sid = alert
    batch = [StatusUpdate(sid, "sent", message_id), StatusUpdate(sid, "delivered", message_id)]
    assert delivery.apply_statuses(svc, batch, NOW) == 2
    assert delivery.apply_statuses(svc, batch, NOW) == 0
    assert deliveries(svc, incident_id) == ["sent", "delivered"]


def test_a_drainer_that_crashes_loses_nothing(client, svc, alert):
    """If applying a batch fails (the worker dies, the database is down), the next drain applies it."""
    incident_id, message_id, sid = alert
    post_callback(client, sid, "sent", message_id)
    post_callback(client, sid, "delivered", message_id)
    inbox = StatusInbox.of(svc)

    def crash(updates):
        raise RuntimeError("worker killed mid-batch")

    with pytest.raises(RuntimeError):
        inbox.drain(crash)
    assert svc.redis.llen(inbox.processing) == 2 and svc.redis.llen(inbox.pending) == 0
    assert state(svc, message_id)[0] == "queued"
    assert drain(svc) == 2
    assert state(svc, message_id)[0] == "delivered" and inbox.waiting() == 0
    assert deliveries(svc, incident_id) == ["sent", "delivered"]


def test_batches_are_applied_until_nothing_waits(client, svc, alert):
    """More callbacks than one batch, and one arriving mid-drain, are all applied by one drain."""
    _, message_id, sid = alert
    inbox = StatusInbox(svc.redis, svc.settings.queue_prefix, batch=2)
    for status in ("queued", "sent", "sent"):
        post_callback(client, sid, status, message_id)
    seen: list[int] = []

    def apply(updates):
        seen.append(len(updates))
        if len(seen) == 1:
            post_callback(client, sid, "delivered", message_id)  # arrives while the drain works
        delivery.apply_statuses(svc, updates, NOW)

    assert inbox.drain(apply) == 4
    assert seen == [2, 2] and inbox.waiting() == 0
    assert state(svc, message_id)[0] == "delivered"


def test_only_one_drainer_at_a_time(client, svc, alert):
    """A second drainer finds the lock taken and leaves the work to the first."""
    _, message_id, sid = alert
    post_callback(client, sid, "delivered", message_id)
    inbox = StatusInbox.of(svc)
    svc.redis.set(inbox.lock, "someone-else", px=60_000)
    assert drain(svc) == 0 and state(svc, message_id)[0] == "queued"
    svc.redis.delete(inbox.lock)
    assert drain(svc) == 1


def test_a_drainer_that_lost_its_lock_moves_nothing_more(client, svc, alert):
    """If a slow drainer's lock expired and another took over, the slow one stops at once."""
    _, message_id, sid = alert
    inbox = StatusInbox(svc.redis, svc.settings.queue_prefix, batch=1)
    post_callback(client, sid, "sent", message_id)
    post_callback(client, sid, "delivered", message_id)

    def slow(updates):
        svc.redis.set(inbox.lock, "the-next-drainer", px=60_000)  # our lock expired meanwhile
        delivery.apply_statuses(svc, updates, NOW)

    assert inbox.drain(slow) == 1
    assert svc.redis.llen(inbox.pending) == 1  # left for the drainer holding the lock


def test_the_sweep_applies_callbacks_whose_job_was_lost(client, svc, alert):
    """A lost drain job only delays: the worker's sweep applies what waits."""
    from rapidresponse.jobs import tasks

    _, message_id, sid = alert
    post_callback(client, sid, "delivered", message_id)
    svc.redis.delete(*[k for k in svc.redis.keys(f"rq:*{svc.settings.queue_prefix}*")])  # the job is lost
    with mock.patch.object(tasks, "process_services", return_value=svc):
        counts = tasks.sweep()
    assert counts["statuses"] == 1 and state(svc, message_id)[0] == "delivered"


def test_with_redis_down_the_callback_is_applied_in_the_request(client, svc, alert):
    """If Redis cannot take the callback, it is applied at once rather than lost."""
    _, message_id, sid = alert
    with mock.patch.object(StatusInbox, "push", side_effect=RedisConnectionError("down")):
        assert post_callback(client, sid, "delivered", message_id).status_code == 204
    assert state(svc, message_id)[0] == "delivered"


def test_the_drainer_lets_go_of_the_database_between_full_batches(client, svc, alert):
    """After each full batch the drainer pauses, so a member's text can take the write lock."""
    _, message_id, sid = alert
    pauses: list[float] = []
    inbox = StatusInbox(svc.redis, svc.settings.queue_prefix, batch=2, pause=pauses.append)
    for status in ("queued", "sent", "sent", "delivered", "delivered"):
        post_callback(client, sid, status, message_id)
    assert inbox.drain(lambda updates: delivery.apply_statuses(svc, updates, NOW)) == 5
    assert len(pauses) == 2 and all(0 < p < 1 for p in pauses)  # after 2 + 2, not after the last 1


def test_a_batch_that_meets_another_writer_is_redone_exactly(svc, alert):
    """If a text moved on between the batch's read and its write, nothing moves back and the
    thread gets no line for a status the text never took."""
    incident_id, message_id, sid = alert
    real = delivery._texts
    calls = []

    def stale_then_real(session, wanted):
        texts = real(session, wanted)
        calls.append(1)
        if len(calls) == 1:  # what the batch read, just before another writer delivered the text
            delivery.apply_statuses(svc, [StatusUpdate(sid, "delivered", message_id)], NOW)
        return texts

    with mock.patch.object(delivery, "_texts", side_effect=stale_then_real):
        changed = delivery.apply_statuses(svc, [StatusUpdate(sid, "sent", message_id)], NOW)
    assert changed == 0 and len(calls) == 3  # the batch, the other writer, the exact redo
    assert state(svc, message_id)[0] == "delivered"
    assert deliveries(svc, incident_id) == ["delivered"]


def test_a_drain_job_gives_way_after_its_time_and_leaves_a_job_for_the_rest(client, svc, alert):
    """Callbacks keep coming during a fan-out: one drain stops once its time is used up, and what is
    left waits for a new drain job on the status queue, behind any urgent work."""
    _, message_id, sid = alert
    now = [0.0]

    def apply(updates):
        now[0] += 1.5  # each batch takes a while
        delivery.apply_statuses(svc, updates, NOW)

    inbox = StatusInbox(svc.redis, svc.settings.queue_prefix, batch=2, pause=lambda _: None, clock=lambda: now[0])
    for status in ("queued", "sent", "sent", "delivered", "delivered"):
        post_callback(client, sid, status, message_id)
    for job in queued_jobs(svc):
        job.delete()
    svc.redis.delete(inbox.scheduled)
    assert inbox.drain(apply, budget=2.0) == 4  # two batches: the second used the time up
    assert inbox.waiting() == 1
    assert inbox.schedule() is True and inbox.schedule() is False  # one new job, not one per caller
    assert inbox.drain(apply, budget=2.0) == 1 and inbox.schedule() is False


def test_the_drain_job_queues_its_own_continuation(client, svc, alert):
    """The job itself: what it could not apply in its time is applied by the job it queued."""
    from rapidresponse.jobs import tasks

    _, message_id, sid = alert
    for status in ("queued", "sent", "delivered"):
        post_callback(client, sid, status, message_id)
    for job in queued_jobs(svc):
        job.delete()
    one_at_a_time = StatusInbox(svc.redis, svc.settings.queue_prefix, batch=1)
    with mock.patch.object(tasks, "STATUS_DRAIN_SECONDS", 0.0), \
            mock.patch.object(tasks, "process_services", return_value=svc), \
            mock.patch.object(StatusInbox, "of", return_value=one_at_a_time):
        assert tasks.apply_status_callbacks() == 1
    [job] = [j for j in queued_jobs(svc) if j.func_name == APPLY_STATUSES]
    assert job.origin.endswith(queues.STATUS)
