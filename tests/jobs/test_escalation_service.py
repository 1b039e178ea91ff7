"""Escalation applied to the database: empty layers, zone-first order, frozen trees, replies in context."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from rapidresponse.console.threads import incident_view
from rapidresponse.db import utcnow
from rapidresponse.escalation.service import evaluate
from rapidresponse.incidents.models import Incident, IncidentLayer, ThreadEvent
from rapidresponse.incidents.service import plan_of
from rapidresponse.messaging.models import OutboundMessage, Purpose
from rapidresponse.trees.model import parse_trees
from tests.conftest import Phone, add_member

REPORTER = "+12125550160"


def alerts(svc, incident_id: int) -> list[tuple[int | None, int | None]]:
    """(member id, layer) of every alert recorded for an incident, in send order."""
    with svc.db.session() as session:
        rows = session.execute(select(OutboundMessage.member_id, OutboundMessage.layer).where(
            OutboundMessage.incident_id == incident_id, OutboundMessage.purpose == Purpose.ALERT.value)
            .order_by(OutboundMessage.id)).all()
    return [(m, layer) for m, layer in rows]


def open_by_text(client, body: str, phone: str = REPORTER) -> Incident:
    Phone(client, phone).reply_to(body)
    return latest_incident_of(client.application.extensions["rapidresponse"])


def latest_incident_of(svc) -> Incident:
    with svc.db.session() as session:
        incident = session.scalars(select(Incident).order_by(Incident.id.desc())).first()
        session.expunge(incident)
        return incident


def run(svc, incident_id: int, when=None):
    with svc.db.session() as session:
        return evaluate(svc, session, incident_id, when or utcnow())


def test_an_empty_layer_is_skipped_at_once(client, svc):
    """With no verifiers at all, the rapid responders are alerted immediately, marked unverified."""
    responder = add_member(svc, "+12125550161", roles="responder", trees={"ice": 2})
    incident = open_by_text(client, "ICE 5th and Main")
    after = run(svc, incident.id)
    assert alerts(svc, incident.id) == [(responder, 2)]
    assert len(after.send_ids) == 1
    with svc.db.session() as session:
        layers = {lay.number: lay.status for lay in session.scalars(
            select(IncidentLayer).where(IncidentLayer.incident_id == incident.id))}
        assert session.get(Incident, incident.id).unverified_escalation is True
    assert layers == {1: "skipped", 2: "alerted", 3: "waiting"}


def test_the_reports_zone_is_alerted_first(client, svc):
    """A zone-first layer sends to members in the report's zone before everyone else."""
    far = add_member(svc, "+12125550162", roles="responder", trees={"ice": 1}, zone="westside")
    near = add_member(svc, "+12125550163", roles="responder", trees={"ice": 1}, zone="eastside")
    add_member(svc, REPORTER, zone="eastside")
    incident = open_by_text(client, "ICE at the laundromat")
    run(svc, incident.id)
    assert [m for m, _ in alerts(svc, incident.id)] == [near, far]


def test_a_tree_edited_after_opening_does_not_change_the_incident(client, svc):
    """The tree is frozen onto the incident: a later edit of the file reaches only new incidents."""
    responder = add_member(svc, "+12125550164", roles="responder", trees={"ice": 2})
    incident = open_by_text(client, "ICE 5th and Main")
    shrunk = parse_trees({"default_tree": "ice", "trees": {"ice": {"layers": [{"quorum": 1}]}}})
    svc.trees = shrunk
    run(svc, incident.id)
    with svc.db.session() as session:
        assert len(plan_of(svc.cipher, session.get(Incident, incident.id)).layers) == 3
    assert alerts(svc, incident.id) == [(responder, 2)]  # the frozen layer 2, which the edit removed


def test_a_verifier_layers_wait_runs_out_before_the_next_layer_goes(client, svc):
    """Before the verifiers' wait is over nothing more is sent; after it, layer 2 goes unverified."""
    add_member(svc, "+12125550165", roles="responder", trees={"ice": 1})
    responder = add_member(svc, "+12125550166", roles="responder", trees={"ice": 2})
    incident = open_by_text(client, "MIGRA en la fábrica")
    now = utcnow()
    first = run(svc, incident.id, now)
    assert first.timers and first.timers[0][1] == now + timedelta(seconds=180)
    run(svc, incident.id, now + timedelta(seconds=179))
    assert [layer for _, layer in alerts(svc, incident.id)] == [1]
    run(svc, incident.id, now + timedelta(seconds=181))
    assert alerts(svc, incident.id)[-1] == (responder, 2)


def test_two_open_incidents_make_a_bare_yes_ambiguous(client, svc):
    """With two alerts open, YES alone is answered with the codes; 'K7 YES' picks one."""
    responder = "+12125550167"
    add_member(svc, responder, roles="responder", trees={"ice": 1, "copwatch": 1})
    first = open_by_text(client, "ICE 5th and Main")
    run(svc, first.id)
    second = open_by_text(client, "COPWATCH traffic stop on Elm", phone="+12125550168")
    run(svc, second.id)
    _mark_sent(svc)
    phone = Phone(client, responder)
    reply = phone.reply_to("YES")
    assert first.code in reply and second.code in reply
    assert f"CONFIRM {second.code}" in phone.reply_to(f"{second.code} YES")  # a verifier, on the way to check


def test_a_free_text_reply_lands_in_the_thread_and_reaches_coordinators(client, svc):
    """'3 vans now' from an alerted responder is in the thread and relayed, masked, to coordinators."""
    responder = "+12125550169"
    coordinator = add_member(svc, "+12125550170", roles="coordinator")
    add_member(svc, responder, roles="responder", trees={"ice": 1})
    incident = open_by_text(client, "ICE 5th and Main")
    run(svc, incident.id)
    _mark_sent(svc)
    reply = Phone(client, responder).reply_to("3 vans now, agents at the door")
    assert incident.code in reply
    with svc.db.session() as session:
        event = session.scalars(select(ThreadEvent).where(ThreadEvent.kind == "reply")).one()
        assert svc.cipher.decrypt(event.body_token) == "3 vans now, agents at the door"
        assert event.actor == "" and event.participant_id is not None  # a pseudonym, no number
        [line] = [e for e in incident_view(session, svc.cipher, incident.id).events if e.kind == "reply"]
        assert line.actor == "responder 1 (…0169)"  # resolved only when a coordinator reads it
        relay = session.scalars(select(OutboundMessage).where(OutboundMessage.purpose == Purpose.RELAY.value)).one()
        assert relay.member_id == coordinator
        assert svc.cipher.decrypt(relay.body_token) == (
            f"[{incident.code}] responder ...0169: 3 vans now, agents at the door")


def _mark_sent(svc) -> None:
    """Pretend the worker sent every recorded alert (these tests run no worker)."""
    with svc.db.session() as session:
        for message in session.scalars(select(OutboundMessage).where(OutboundMessage.status == "pending")):
            message.status = "queued"


def test_a_tree_with_nobody_in_it_tells_the_coordinators_once(client, svc):
    """Every layer empty: the coordinators get one text saying nobody could be alerted."""
    coordinator = add_member(svc, "+12125550171", roles="coordinator")
    incident = open_by_text(client, "EVICTION 12 Oak St, crew at the door")
    first = run(svc, incident.id)
    again = run(svc, incident.id)
    assert len(first.send_ids) == 1 and again.send_ids == []
    with svc.db.session() as session:
        text = session.get(OutboundMessage, first.send_ids[0])
        assert text.member_id == coordinator
        assert svc.cipher.decrypt(text.body_token).startswith(f"[{incident.code}] New report, but its tree has nobody")
        kinds = session.scalars(select(ThreadEvent.kind).where(ThreadEvent.incident_id == incident.id)).all()
    assert kinds.count("nobody_alerted") == 1 and kinds.count("layer_skipped") == 2
