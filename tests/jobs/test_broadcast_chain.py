"""A broadcast's jobs, run here one step at a time on real Redis: planning in chunks, the send
chain stepping to the end, giving way to urgent work, a stale chain stopping, the sweep resuming a
stalled one, and a cancel that keeps every text not yet handed over from going out."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from rapidresponse.broadcasts import service as broadcasts
from rapidresponse.broadcasts.models import Broadcast, BroadcastStatus
from rapidresponse.broadcasts.service import Audience, Draft
from rapidresponse.db import utcnow
from rapidresponse.jobs import broadcasts as broadcast_jobs
from rapidresponse.jobs import queues, tasks
from rapidresponse.messaging.models import DeliveryStatus, OutboundMessage
from rapidresponse.messaging.sender import Sender
from tests.conftest import add_member


@pytest.fixture
def sender(svc, monkeypatch):
    sender = Sender(svc)
    monkeypatch.setattr(tasks, "process_sender", lambda: sender)
    monkeypatch.setattr(broadcast_jobs, "process_services", lambda: svc)
    yield sender
    sender.close()


def members(svc, count: int) -> list[int]:
    return [add_member(svc, f"+1212555{5000 + n:04d}", language="es" if n % 3 == 0 else "en")
            for n in range(count)]


def new_broadcast(svc, key: str = "c" * 32) -> int:
    with svc.db.session() as session:
        created = broadcasts.create(session, svc.cipher, Draft({"en": "Meeting at 7", "es": "Reunión a las 7"},
                                                               Audience()), key=key, coordinator_id=None,
                                    now=utcnow())
    return created.broadcast_id


def jobs(svc, name: str) -> list:
    return queues.queue(svc, name).get_jobs()


def run_bulk(svc, limit: int = 200) -> int:
    """Run the bulk queue's jobs here, in order, as a worker would; returns how many ran."""
    ran = 0
    q = queues.queue(svc, queues.BULK)
    while (job := q.dequeue_any([q], timeout=None, connection=svc.redis, serializer=q.serializer)) and ran < limit:
        job[0].perform()
        ran += 1
    return ran


def statuses(svc, broadcast_id: int) -> list[str]:
    with svc.db.session() as session:
        return sorted(session.scalars(select(OutboundMessage.status).where(
            OutboundMessage.broadcast_id == broadcast_id)))


def status_of(svc, broadcast_id: int) -> str:
    with svc.db.session() as session:
        return session.get(Broadcast, broadcast_id).status


def test_planning_writes_each_member_once_in_chunks_and_starts_the_chain(svc, sender, monkeypatch):
    """The planner writes one text per member a chunk at a time; run twice it writes nobody twice."""
    members(svc, 7)
    monkeypatch.setattr(broadcasts, "PLAN_CHUNK", 3)
    broadcast_id = new_broadcast(svc)
    assert broadcast_jobs.plan_broadcast(broadcast_id) == {"planned": 7}
    assert broadcast_jobs.plan_broadcast(broadcast_id) == {"planned": 0}
    assert statuses(svc, broadcast_id) == ["pending"] * 7
    assert status_of(svc, broadcast_id) == BroadcastStatus.SENDING.value
    [job] = jobs(svc, queues.BULK)
    assert job.func_name == broadcast_jobs.SEND_BROADCAST and job.args == [broadcast_id, 0]


def test_the_chain_steps_until_every_member_has_one_text(svc, sender, twilio_api):
    """Step after step on the bulk queue, every member gets exactly one text, in their language,
    and the broadcast is done."""
    members(svc, 9)
    broadcast_id = new_broadcast(svc)
    broadcast_jobs.plan_broadcast(broadcast_id)
    run_bulk(svc)
    sent = [c.request for c in twilio_api.calls]
    assert len(sent) == 9
    assert len({c.body for c in sent}) == 9  # nine different numbers, one text each
    assert status_of(svc, broadcast_id) == BroadcastStatus.DONE.value
    assert statuses(svc, broadcast_id) == ["queued"] * 9
    assert jobs(svc, queues.BULK) == []


def test_a_step_gives_way_to_an_urgent_job_and_the_broadcast_resumes(svc, sender, twilio_api, monkeypatch):
    """With a raid alert's job waiting, a step sends one chunk, then queues the chain behind it;
    the rest goes out once the urgent work is done."""
    members(svc, sender.chunk * 3)
    broadcast_id = new_broadcast(svc)
    broadcast_jobs.plan_broadcast(broadcast_id)
    queues.enqueue(svc, queues.URGENT, "rapidresponse.jobs.tasks.escalate", 999999)
    [step] = jobs(svc, queues.BULK)
    assert step.perform()["sent"] == sender.chunk
    step.delete()
    [again] = jobs(svc, queues.BULK)
    assert again.args == [broadcast_id, 0]
    assert statuses(svc, broadcast_id).count("pending") == sender.chunk * 2
    queues.queue(svc, queues.URGENT).empty()
    run_bulk(svc)
    assert statuses(svc, broadcast_id) == ["queued"] * (sender.chunk * 3)


def test_a_stale_chain_stops_when_the_sweep_has_started_another(svc, sender, twilio_api):
    """A chain whose heartbeat went stale is replaced; the old one, waking late, sends nothing."""
    members(svc, 3)
    broadcast_id = new_broadcast(svc)
    broadcast_jobs.plan_broadcast(broadcast_id)
    later = utcnow() + timedelta(seconds=svc.settings.send_lease_seconds + 1)
    assert broadcast_jobs.resume_stalled(svc, later) == 1
    old, new = jobs(svc, queues.BULK)
    assert (old.args, new.args) == ([broadcast_id, 0], [broadcast_id, 1])
    assert old.perform() == {"sent": 0, "deferred": 0}
    assert new.perform()["sent"] == 3
    assert broadcast_jobs.resume_stalled(svc, utcnow()) == 0  # fresh heartbeat: nothing to resume


def test_the_sweep_resumes_a_broadcast_whose_planning_job_was_lost(svc, sender, twilio_api):
    """Redis lost the planning job: the sweep plans it and starts its chain once its heartbeat is stale."""
    members(svc, 4)
    broadcast_id = new_broadcast(svc)  # never queued
    with svc.db.session() as session:
        session.execute(update(Broadcast).values(heartbeat_at=utcnow() - timedelta(hours=1)))
    assert broadcast_jobs.resume_stalled(svc, utcnow()) == 1
    assert [j.func_name for j in jobs(svc, queues.BULK)] == [broadcast_jobs.PLAN_BROADCAST,
                                                            broadcast_jobs.SEND_BROADCAST]
    run_bulk(svc)
    assert statuses(svc, broadcast_id) == ["queued"] * 4
    assert status_of(svc, broadcast_id) == BroadcastStatus.DONE.value


def test_the_generic_sweep_leaves_broadcast_texts_to_their_chain(svc, sender):
    """Broadcast texts waiting their turn for long are not put on the urgent queue by the sweep."""
    from rapidresponse.escalation import service as escalation

    members(svc, 3)
    broadcast_id = new_broadcast(svc)
    broadcast_jobs.plan_broadcast(broadcast_id)
    with svc.db.session() as session:
        later = utcnow() + timedelta(hours=1)
        assert escalation.pending_sends(session, later, svc.settings.send_lease_seconds) == []


def test_a_cancelled_claim_waiting_its_turn_is_never_sent(svc, sender, twilio_api):
    """Texts a worker has claimed but not yet handed over (waiting at the rate limit) are cancelled
    with the broadcast, and the sender, checking its claim right before the call, does not send them."""
    members(svc, 3)
    broadcast_id = new_broadcast(svc)
    broadcast_jobs.plan_broadcast(broadcast_id)
    with svc.db.session() as session:
        ids = list(session.scalars(select(OutboundMessage.id).where(OutboundMessage.broadcast_id == broadcast_id)))
        claimed = sender._claim(session, ids, tasks.Outcome())
    assert len(claimed) == 3
    with svc.db.session() as session:
        done = broadcasts.cancel(session, broadcast_id, None, utcnow())
    assert done.never_sent == 3
    assert [sender._send_one(text) for text in claimed] == [None, None, None]
    assert len(twilio_api.calls) == 0
    assert statuses(svc, broadcast_id) == ["cancelled"] * 3


def test_a_text_sent_just_as_the_broadcast_was_cancelled_is_counted_as_sent(svc, sender, twilio_api):
    """A text already past its last check when the cancel lands went out: the record says sent, not cancelled."""
    members(svc, 1)
    broadcast_id = new_broadcast(svc)
    broadcast_jobs.plan_broadcast(broadcast_id)
    with svc.db.session() as session:
        ids = list(session.scalars(select(OutboundMessage.id).where(OutboundMessage.broadcast_id == broadcast_id)))
        [text] = sender._claim(session, ids, tasks.Outcome())
    result = sender._send_one(text)  # handed over
    with svc.db.session() as session:
        broadcasts.cancel(session, broadcast_id, None, utcnow())
    with svc.db.session() as session:
        sender._record(session, [text], [result], tasks.Outcome())
    assert statuses(svc, broadcast_id) == [DeliveryStatus.QUEUED.value]
    with svc.db.session() as session:
        progress = broadcasts.progress(session, [broadcast_id])[broadcast_id]
    assert (progress.sent, progress.cancelled, progress.status) == (1, 0, "cancelled")
