"""Closing an incident keeps its counts but forgets who answered and who wrote in its thread."""

from __future__ import annotations

from sqlalchemy import select

from rapidresponse.db import utcnow
from rapidresponse.incidents.models import Acknowledgement, Incident, Participant, ThreadEvent
from rapidresponse.incidents.service import append
from rapidresponse.members.models import Member
from rapidresponse.messaging.models import DeliveryStatus, OutboundMessage
from rapidresponse.messaging.sender import Sender
from tests.conftest import Phone, add_member
from tests.storage.test_retention import report_and_alert

COORDINATOR = "+12125550171"
RESPONDER = "+12125550172"


def send_pending(svc) -> int:
    with svc.db.session() as session:
        pending = list(session.scalars(select(OutboundMessage.id).where(
            OutboundMessage.status == DeliveryStatus.PENDING.value)))
    sender = Sender(svc)
    try:
        return sender.send(pending).sent
    finally:
        sender.close()


def test_closing_drops_member_ids_and_keeps_the_counts(client, svc, twilio_api):
    """After RESOLVE, no participant leads back to a member, yet the YES count is the same."""
    add_member(svc, COORDINATOR, roles="responder,coordinator", trees={"ice": 1})
    add_member(svc, RESPONDER, roles="responder", trees={"ice": 1})
    incident_id = report_and_alert(client, svc, "ICE at the corner store", "+12125550170")
    assert send_pending(svc) == 2
    Phone(client, RESPONDER).reply_to("YES")
    Phone(client, RESPONDER).reply_to("two vans, one idling")
    with svc.db.session() as session:
        code = session.get(Incident, incident_id).code
        assert session.scalars(select(Participant.member_token).where(Participant.member_token.is_not(None))).first()
    Phone(client, COORDINATOR).reply_to(f"RESOLVE {code}")
    # Texts sent and delivery lines written after the close name nobody either.
    assert send_pending(svc) >= 1
    with svc.db.session() as session:
        late = session.scalars(select(Member).where(Member.id == 1)).one()
        append(session, svc.cipher, incident_id, "reply", utcnow(), member=late, body="late")
    with svc.db.session() as session:
        acks = session.scalars(select(Acknowledgement).where(Acknowledgement.incident_id == incident_id)).all()
        assert [a.answer for a in acks] == ["yes"]
        named = session.scalars(select(Participant).where(Participant.incident_id == incident_id)).all()
        assert named and all(p.member_tag is None and p.member_token is None for p in named)
        events = session.scalars(select(ThreadEvent).where(ThreadEvent.incident_id == incident_id)).all()
    assert {e.participant_id for e in events if e.kind == "reply"} - {None} <= {p.id for p in named}
    kinds = [e.kind for e in events]
    assert "acknowledged" in kinds and "reply" in kinds and "stand_down_sent" in kinds
