"""Members' answers to a broadcast land in the broadcast's own thread, through the same inbound
path as every text: a keyword is still a keyword, and an incident's context comes first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from rapidresponse.broadcasts.models import BroadcastReply
from rapidresponse.escalation import service as escalation
from rapidresponse.incidents.models import Incident
from rapidresponse.messaging.models import DeliveryStatus, OutboundMessage
from tests.conftest import Phone, add_member
from tests.web.test_console_auth import add_coordinator, sign_in
from tests.web.test_console_broadcasts import plan_all

ANA = "+12125550101"


def sent_broadcast(svc, client, *, age: timedelta = timedelta(minutes=5)) -> int:
    """A broadcast to everyone, planned and handed to the provider `age` ago."""
    add_coordinator(svc)
    sign_in(client)
    response = client.post("/broadcasts", data={"key": "r" * 32, "text_en": "Meeting tonight at 7. Can you come?"})
    broadcast_id = int(response.headers["Location"].rsplit("/", 1)[1])
    when = datetime.now(UTC) - age
    plan_all(svc, broadcast_id)
    with svc.db.session() as session:
        for message in session.scalars(select(OutboundMessage).where(OutboundMessage.broadcast_id == broadcast_id)):
            message.status, message.sent_at, message.created_at = DeliveryStatus.DELIVERED.value, when, when
    return broadcast_id


def replies(svc, broadcast_id: int) -> list[str]:
    with svc.db.session() as session:
        return [svc.cipher.decrypt(r.body_token) for r in session.scalars(
            select(BroadcastReply).where(BroadcastReply.broadcast_id == broadcast_id))]


def test_a_reply_to_a_broadcast_goes_into_its_thread(client, svc):
    """'Yes, I'll bring two people' after a broadcast: thanked, and shown on the broadcast's page
    with the member's number masked."""
    add_member(svc, ANA)
    broadcast_id = sent_broadcast(svc, client)
    answer = Phone(client, ANA).reply_to("Count me in, I'll bring two people")
    assert answer == "Thanks, your reply reached the coordinators."
    assert replies(svc, broadcast_id) == ["Count me in, I'll bring two people"]
    page = client.get(f"/broadcasts/{broadcast_id}").data.decode()
    assert "Count me in, I&#39;ll bring two people" in page
    assert "…0101" in page and ANA not in page


def test_a_keyword_after_a_broadcast_is_still_a_keyword(client, svc):
    """HELP and STOP after a broadcast do what they always do, and are not replies."""
    add_member(svc, ANA)
    broadcast_id = sent_broadcast(svc, client)
    assert "Rapid Response" in Phone(client, ANA).reply_to("HELP")
    Phone(client, ANA).reply_to("STOP")
    assert replies(svc, broadcast_id) == []


def test_an_old_broadcast_does_not_collect_replies(client, svc):
    """A text long after the broadcast (beyond BROADCAST_REPLY_HOURS) is not taken as its answer."""
    add_member(svc, ANA)
    broadcast_id = sent_broadcast(svc, client, age=timedelta(hours=30))
    answer = Phone(client, ANA).reply_to("hello?")
    assert answer != "Thanks, your reply reached the coordinators."
    assert replies(svc, broadcast_id) == []


def test_a_responder_in_an_open_incident_is_relayed_not_filed(client, svc):
    """Someone alerted for an open incident after the broadcast: their text goes to the incident."""
    add_member(svc, ANA, roles="responder", trees={"ice": 1})
    broadcast_id = sent_broadcast(svc, client)
    Phone(client, "+12125550199").reply_to("ICE at 5th and Main")
    with svc.db.session() as session:
        incident_id = session.scalar(select(Incident.id))
        escalation.evaluate(svc, session, incident_id, datetime.now(UTC))  # Ana, layer 1, is alerted
    answer = Phone(client, ANA).reply_to("two vans, leaving now")
    assert answer != "Thanks, your reply reached the coordinators."
    assert replies(svc, broadcast_id) == []
