"""A big layer is planned and sent in a stream: its first chunk is recorded with the layer's claim and
goes out at once, the rest is recorded a chunk per transaction while it is sent. Everyone is alerted
once whoever plans (a crashed planner resumed, two planners at once), and the sweep neither plans
over a live planner nor requeues texts a live fan-out is still working through."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from rapidresponse.db import utcnow
from rapidresponse.escalation import service as escalation
from rapidresponse.incidents import responses
from rapidresponse.incidents import service as incident_service
from rapidresponse.incidents.models import Incident, IncidentLayer
from rapidresponse.incidents.states import IncidentStatus
from rapidresponse.jobs import queues, tasks
from rapidresponse.messaging.models import DeliveryStatus, OutboundMessage, Purpose
from rapidresponse.messaging.sender import Outcome, Sender
from tests import conftest
from tests.conftest import add_member
from tests.jobs.test_escalation_service import REPORTER, alerts, open_by_text, run

CHUNK = 2


@pytest.fixture
def env(tmp_path: Any, database_url: str) -> dict[str, str]:
    return conftest.test_env(tmp_path, database_url, ALERT_BATCH_SIZE=str(CHUNK))


PHONES = iter(range(1000, 9999))


def verifiers(svc, n: int, zone: str | None = None, layer: int = 1) -> list[int]:
    return [add_member(svc, f"+1212555{next(PHONES)}", roles="responder", trees={"ice": layer}, zone=zone)
            for _ in range(n)]


def layer_one(svc, incident_id: int) -> IncidentLayer:
    with svc.db.session() as session:
        row = session.scalar(select(IncidentLayer).where(IncidentLayer.incident_id == incident_id,
                                                         IncidentLayer.number == 1))
        session.expunge(row)
        return row


def plan_to_the_end(svc, incident_id: int, now=None) -> list[int]:
    sent: list[int] = []
    for _ in range(100):
        with svc.db.session() as session:
            step = escalation.plan_chunk(svc, session, incident_id, 1, now or utcnow())
        sent += step.send_ids
        if step.done:
            return sent
    raise AssertionError("planning never ended")


def test_the_first_chunk_is_recorded_with_the_claim_and_the_rest_a_chunk_at_a_time(client, svc):
    """Five verifiers, chunks of two: the claim records two, then each step two more, once each."""
    members = verifiers(svc, 5)
    incident = open_by_text(client, "ICE 5th and Main")
    after = run(svc, incident.id)
    assert after.plans == [(incident.id, 1)]
    assert len(after.send_ids) == CHUNK
    assert [m for m, _ in alerts(svc, incident.id)] == members[:CHUNK]
    assert layer_one(svc, incident.id).plan_pass is not None
    later = plan_to_the_end(svc, incident.id)
    assert [m for m, _ in alerts(svc, incident.id)] == members
    assert len(later) == 3
    layer = layer_one(svc, incident.id)
    assert (layer.plan_pass, layer.recipients, layer.status) == (None, 5, "alerted")


def test_a_layer_that_fits_one_chunk_is_planned_at_once(client, svc):
    """Two verifiers, chunks of two: nothing is left to plan after the claim."""
    verifiers(svc, 1)
    incident = open_by_text(client, "ICE 5th and Main")
    after = run(svc, incident.id)
    assert after.plans == []
    assert layer_one(svc, incident.id).plan_pass is None


def test_the_reports_zone_goes_first_across_chunks(client, svc):
    """Zone first, chunk by chunk: all of the report's zone, then everyone else, each by member id."""
    far = verifiers(svc, 2, zone="westside")
    near = verifiers(svc, 3, zone="eastside")
    add_member(svc, REPORTER, zone="eastside")
    incident = open_by_text(client, "ICE at the laundromat")
    run(svc, incident.id)
    plan_to_the_end(svc, incident.id)
    assert [m for m, _ in alerts(svc, incident.id)] == near + far


def test_a_planner_that_died_mid_chunk_is_resumed_without_skipping_or_repeating_anyone(client, svc):
    """A chunk rolled back (the worker died before committing) is written again by the next planner;
    a planner run again after the end writes nothing."""
    members = verifiers(svc, 5)
    incident = open_by_text(client, "ICE 5th and Main")
    run(svc, incident.id)
    with pytest.raises(RuntimeError), svc.db.session() as session:
        assert escalation.plan_chunk(svc, session, incident.id, 1, utcnow()).send_ids
        raise RuntimeError("worker killed before the commit")
    assert [m for m, _ in alerts(svc, incident.id)] == members[:CHUNK]
    plan_to_the_end(svc, incident.id)
    assert plan_to_the_end(svc, incident.id) == []
    assert [m for m, _ in alerts(svc, incident.id)] == members


def test_the_sweep_resumes_a_silent_planner_and_leaves_a_live_one_alone(client, svc):
    """A layer still being planned is not evaluated by the sweep; once its planner has been silent
    for the planning lease, the sweep hands it to a new planner."""
    verifiers(svc, 5)
    incident = open_by_text(client, "ICE 5th and Main")
    now = utcnow()
    run(svc, incident.id, now)
    past_the_wait = now + timedelta(hours=2)
    lease = timedelta(seconds=30)
    with svc.db.session() as session:
        assert incident.id not in escalation.due_incidents(session, past_the_wait)
        assert escalation.stalled_plans(session, now + lease / 2, lease) == []
        assert escalation.stalled_plans(session, now + lease, lease) == [(incident.id, 1)]
        assert escalation.evaluate(svc, session, incident.id, past_the_wait).send_ids == []


def test_an_answer_that_reached_the_quorum_while_planning_is_acted_on_when_planning_ends(client, svc):
    """The planner's last step evaluates the incident: what waited for the planning (here layer 1's
    wait running out) happens then."""
    verifiers(svc, 5)
    verifiers(svc, 1, layer=2)
    incident = open_by_text(client, "ICE 5th and Main")
    now = utcnow()
    run(svc, incident.id, now)
    with svc.db.session() as session:
        assert escalation.evaluate(svc, session, incident.id, now + timedelta(hours=2)).send_ids == []
    for _ in range(3):
        with svc.db.session() as session:
            step = escalation.plan_chunk(svc, session, incident.id, 1, now + timedelta(hours=2))
    assert step.done
    with svc.db.session() as session:
        layers = {lay.number: lay.status for lay in session.scalars(
            select(IncidentLayer).where(IncidentLayer.incident_id == incident.id))}
    assert layers[2] == "alerted"  # layer 1's wait was over by the end of its planning: layer 2 goes


def test_a_closed_incident_stops_its_planning(client, svc):
    """Resolved (or a false alarm) while a layer is being planned: nobody else is alerted."""
    members = verifiers(svc, 5)
    incident = open_by_text(client, "ICE 5th and Main")
    run(svc, incident.id)
    with svc.db.session() as session:
        session.execute(update(Incident).where(Incident.id == incident.id).values(
            closed_at=utcnow(), open_code=None, status="resolved"))
    assert plan_to_the_end(svc, incident.id) == []
    assert [m for m, _ in alerts(svc, incident.id)] == members[:CHUNK]
    assert layer_one(svc, incident.id).plan_pass is None


def test_the_sweep_leaves_texts_of_a_layer_still_being_claimed_alone(client, svc):
    """Texts waiting in the queue behind a long fan-out are not requeued while workers keep claiming
    the layer's chunks; once claims stop for a lease, they are."""
    verifiers(svc, 5)
    incident = open_by_text(client, "ICE 5th and Main")
    now = utcnow()
    first = run(svc, incident.id, now).send_ids
    plan_to_the_end(svc, incident.id, now)
    lease = svc.settings.send_lease_seconds
    sender = Sender(svc, clock=lambda: now + timedelta(seconds=lease * 2))
    try:
        with svc.db.session() as session:
            claimed = sender._claim(session, first[:1], Outcome())
        assert len(claimed) == 1
    finally:
        sender.close()
    with svc.db.session() as session:
        waiting = set(session.scalars(select(OutboundMessage.id).where(
            OutboundMessage.status == DeliveryStatus.PENDING.value)).all())
        assert len(waiting) == 4
        assert escalation.pending_sends(session, now + timedelta(seconds=lease * 2.5), lease) == []
        assert set(escalation.pending_sends(session, now + timedelta(seconds=lease * 3.5), lease)) == waiting | {
            claimed[0].id}  # the claim, too, is a dead worker's by then


def run_urgent(svc, limit: int = 200) -> list[str]:
    """Run the urgent queue's jobs here, in order, as a worker would; their function names."""
    ran: list[str] = []
    q = queues.queue(svc, queues.URGENT)
    while len(ran) < limit and (job := q.dequeue_any([q], timeout=None, connection=svc.redis,
                                                     serializer=q.serializer)):
        job[0].perform()
        ran.append(job[0].func_name.rsplit(".", 1)[-1])
    return ran


def test_a_report_texts_its_whole_big_layer_once_first_chunk_first(client, svc, twilio_api, monkeypatch):
    """start_incident sends the first chunk itself and queues the planner; the planner's chunks
    are queued as they are committed; every member gets one text."""
    members = verifiers(svc, 5)
    sender = Sender(svc)
    monkeypatch.setattr(tasks, "process_services", lambda: svc)
    monkeypatch.setattr(tasks, "process_sender", lambda: sender)
    try:
        incident = open_by_text(client, "ICE 5th and Main")
        queues.queue(svc, queues.URGENT).empty()  # the report's own start job: run it here instead
        tasks.start_incident(incident.id)
        assert len(alerts(svc, incident.id)) == CHUNK  # sent (or on the wire) before the rest is recorded
        ran = run_urgent(svc)
        for _ in range(100):  # on a busy machine, the last sends may still be recording themselves
            if sent_texts(svc) == 5:
                break
            time.sleep(0.1)
    finally:
        sender.close()
    assert ran[0] == "plan_layer" and ran.count("send_texts") == 2
    assert sorted(m for m, _ in alerts(svc, incident.id)) == members
    posted = [call.request.body for call in twilio_api.calls]
    assert len(posted) == len(set(posted)) == 5



def sent_texts(svc) -> int:
    with svc.db.session() as session:
        return len(session.scalars(select(OutboundMessage.id).where(
            OutboundMessage.purpose == "alert", OutboundMessage.status == DeliveryStatus.QUEUED.value)).all())


def test_a_big_layer_hears_covered_and_the_stand_down_once_each_a_chunk_at_a_time(client, svc, monkeypatch):
    """Five alerted verifiers, read and texted two at a time: each gets one "covered" text and one
    stand-down, in member order, however the chunks fall."""
    monkeypatch.setattr(incident_service, "ALERTED_CHUNK", CHUNK)
    monkeypatch.setattr(escalation, "PLAN_CHUNK", CHUNK)
    members = verifiers(svc, 5)
    incident = open_by_text(client, "ICE 5th and Main")
    run(svc, incident.id)
    plan_to_the_end(svc, incident.id)
    with svc.db.session() as session:
        session.execute(update(OutboundMessage).values(status=DeliveryStatus.DELIVERED.value))

    def told(purpose: Purpose) -> list[int | None]:
        with svc.db.session() as session:
            return list(session.scalars(select(OutboundMessage.member_id).where(
                OutboundMessage.incident_id == incident.id, OutboundMessage.purpose == purpose.value)
                .order_by(OutboundMessage.id)).all())

    for _ in range(2):
        with svc.db.session() as session:
            escalation.mark_covered(svc, session, session.get(Incident, incident.id), utcnow())
    assert told(Purpose.COVERED) == members
    with svc.db.session() as session:
        after = responses.close_incident(svc, session, session.get(Incident, incident.id),
                                         IncidentStatus.FALSE_ALARM, utcnow(), actor="console")
    assert told(Purpose.STAND_DOWN) == members
    assert len(after.send_ids) == len(members)  # each one queued to send
