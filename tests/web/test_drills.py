"""Drills by text: DRILL / SIMULACRO from a coordinator fans out through the real tree, every text marked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from rapidresponse.drills import service as drills
from rapidresponse.escalation import service as escalation
from rapidresponse.incidents.models import Incident, ThreadEvent
from rapidresponse.incidents.service import plan_of
from rapidresponse.messaging.models import DeliveryStatus, OutboundMessage, Purpose
from rapidresponse.services import Services
from tests.conftest import Phone, add_member

COORDINATOR = "+12125550130"
VERIFIER = "+12125550131"
SPANISH_VERIFIER = "+12125550132"
RESPONDER = "+12125550133"
MEMBER = "+12125550134"


def only_incident(svc: Services) -> Incident:
    with svc.db.session() as session:
        found = session.scalars(select(Incident)).one()
        session.expunge(found)
        return found


def start_fan_out(svc: Services, incident_id: int) -> None:
    """What the start_incident job does once the text's transaction committed, and the provider
    reporting each alert delivered."""
    with svc.db.session() as session:
        escalation.evaluate(svc, session, incident_id, datetime.now(UTC))
        session.execute(update(OutboundMessage).where(OutboundMessage.incident_id == incident_id)
                        .values(status=DeliveryStatus.DELIVERED.value))


def alerts(svc: Services, incident_id: int) -> dict[int, str]:
    with svc.db.session() as session:
        return {m.member_id: svc.cipher.decrypt(m.body_token) for m in session.scalars(
            select(OutboundMessage).where(OutboundMessage.incident_id == incident_id,
                                          OutboundMessage.purpose == Purpose.ALERT.value))}


def tree(svc: Services) -> dict[str, int]:
    return {
        "verifier": add_member(svc, VERIFIER, roles="responder", trees={"ice": 1}),
        "spanish": add_member(svc, SPANISH_VERIFIER, roles="responder", trees={"ice": 1}, language="es"),
        "responder": add_member(svc, RESPONDER, roles="responder", trees={"ice": 2}),
    }


def test_coordinator_texts_drill_and_the_tree_gets_marked_alerts(client, svc):
    """DRILL ice eastside opens a drill on the ice tree for eastside; its verifiers get DRILL / SIMULACRO alerts
    that ask nobody to go anywhere, and the coordinator who started it is not alerted."""
    ids = tree(svc)
    add_member(svc, COORDINATOR, roles="coordinator", trees={"ice": 1})
    reply = Phone(client, COORDINATOR).reply_to("DRILL ice eastside")
    incident = only_incident(svc)
    assert incident.drill and incident.is_open and incident.zone == "eastside"
    assert plan_of(svc.cipher, incident).name == "ice"
    assert f"Drill {incident.code} started on ICE activity" in reply
    start_fan_out(svc, incident.id)
    sent = alerts(svc, incident.id)
    assert set(sent) == {ids["verifier"], ids["spanish"]}  # layer 1 only, the coordinator left out
    assert sent[ids["verifier"]].startswith(f"DRILL [{incident.code}] ICE activity, eastside. Practice only")
    assert "do not go anywhere" in sent[ids["verifier"]]
    assert sent[ids["spanish"]].startswith(f"SIMULACRO [{incident.code}]")
    assert "no vayas a ningún lado" in sent[ids["spanish"]]
    with svc.db.session() as session:
        first = session.scalars(select(ThreadEvent).where(ThreadEvent.incident_id == incident.id)
                                .order_by(ThreadEvent.id)).first()
        assert first is not None and first.kind == "drill" and first.actor == "coordinator by text"


def test_replies_in_a_drill_count_and_are_marked(client, svc):
    """A verifier's YES counts as in a real alert, and the answer says DRILL; CONFIRM alerts layer 2 as usual."""
    tree(svc)
    add_member(svc, COORDINATOR, roles="coordinator")
    Phone(client, COORDINATOR).reply_to("SIMULACRO migra")
    incident = only_incident(svc)
    start_fan_out(svc, incident.id)
    verifier = Phone(client, VERIFIER)
    assert verifier.reply_to("YES").startswith(f"DRILL: Thank you for checking {incident.code}")
    assert verifier.reply_to(f"CONFIRM {incident.code}").startswith("DRILL: ")
    sent = alerts(svc, incident.id)
    assert len(sent) == 3 and all(body.startswith(("DRILL [", "SIMULACRO [")) for body in sent.values())
    assert "DRILL: Got it: 1 of 3" in Phone(client, RESPONDER).reply_to("YES")


def test_ending_a_drill_closes_it_as_a_drill(client, svc):
    """RESOLVE on a drill closes it with the status drill, and everyone alerted hears it was one."""
    ids = tree(svc)
    add_member(svc, COORDINATOR, roles="coordinator")
    Phone(client, COORDINATOR).reply_to("DRILL ice")
    incident = only_incident(svc)
    start_fan_out(svc, incident.id)
    assert "marked as resolved" in Phone(client, COORDINATOR).reply_to(f"RESOLVE {incident.code}")
    closed = only_incident(svc)
    assert closed.status == "drill" and not closed.is_open
    with svc.db.session() as session:
        told = {m.member_id: svc.cipher.decrypt(m.body_token) for m in session.scalars(
            select(OutboundMessage).where(OutboundMessage.purpose == Purpose.STAND_DOWN.value))}
    assert told[ids["verifier"]] == (f"DRILL: [{incident.code}] That was a drill. "
                                     "Thank you for responding - you are ready.")


def test_one_drill_per_tree_at_a_time(client, svc):
    """A second DRILL on a tree with a drill running names the running one and starts nothing."""
    tree(svc)
    add_member(svc, COORDINATOR, roles="coordinator")
    coordinator = Phone(client, COORDINATOR)
    coordinator.reply_to("DRILL ice")
    code = only_incident(svc).code
    assert f"already running: {code}" in coordinator.reply_to("DRILL ice westside")
    assert only_incident(svc).code == code


def test_drill_without_a_tree_says_how(client, svc):
    """DRILL alone, or with a word that is no tree, explains how to start one in the coordinator's language."""
    add_member(svc, COORDINATOR, roles="coordinator", language="es")
    assert "SIMULACRO migra centro" in Phone(client, COORDINATOR).reply_to("SIMULACRO")
    assert "escribe SIMULACRO y la red" in Phone(client, COORDINATOR).reply_to("drill bananas")
    with svc.db.session() as session:
        assert session.scalars(select(Incident)).first() is None


def test_drill_from_a_member_is_just_a_message(client, svc):
    """Only coordinators start drills: a member's "drill ..." text is an ordinary message and opens nothing."""
    add_member(svc, MEMBER)
    reply = Phone(client, MEMBER).reply_to("DRILL ice eastside")
    assert "drill" not in reply.lower()
    with svc.db.session() as session:
        assert session.scalars(select(Incident)).first() is None


def test_a_drill_nobody_ends_closes_by_itself(client, svc):
    """DRILL_MINUTES after it started, the sweep's check closes a drill as a drill; a younger one stays open."""
    tree(svc)
    add_member(svc, COORDINATOR, roles="coordinator")
    Phone(client, COORDINATOR).reply_to("DRILL ice")
    incident = only_incident(svc)
    minutes = svc.settings.drill_minutes
    with svc.db.session() as session:
        assert drills.overdue(session, incident.opened_at + timedelta(minutes=minutes - 1), minutes) == []
        later = incident.opened_at + timedelta(minutes=minutes + 1)
        assert drills.overdue(session, later, minutes) == [incident.id]
        drills.close_overdue(svc, session, incident.id, later)
    closed = only_incident(svc)
    assert closed.status == "drill" and closed.closed_at == later
