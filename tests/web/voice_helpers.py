"""What the voice-alert tests share: members on voice in a layer, their calls placed, and a phone
that presses keys and posts call statuses exactly as Twilio does, signed."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from xml.etree import ElementTree

from sqlalchemy import select, update

from rapidresponse.escalation.service import evaluate
from rapidresponse.incidents.models import Incident, ThreadEvent
from rapidresponse.members.models import Member
from rapidresponse.messaging import delivery
from rapidresponse.messaging.models import Channel, DeliveryStatus, OutboundMessage
from rapidresponse.messaging.status_inbox import StatusInbox
from tests.conftest import ACCOUNT_SID, FROM_NUMBER, Phone, add_member, signed_post

REPORTER = "+12125550190"


@dataclass(frozen=True)
class Call:
    """An alert call placed to one member: our message id, its CallSid, the member."""

    message_id: int
    sid: str
    member_id: int
    phone: str


def voice_members(svc, *phones: str, language: str = "en", channel: str = "voice") -> list[int]:
    ids = [add_member(svc, phone, roles="responder", trees={"ice": 2}, language=language) for phone in phones]
    with svc.db.session() as session:
        for member_id in ids:
            session.get(Member, member_id).channel = channel
    return ids


def report(client, svc, body: str = "ICE 5th and Main, 2 vans") -> Incident:
    """A report by text whose first evaluation alerts layer 2 (no verifiers: layer 1 is skipped)."""
    Phone(client, REPORTER).reply_to(body)
    with svc.db.session() as session:
        incident = session.scalars(select(Incident).order_by(Incident.id.desc())).first()
        evaluate(svc, session, incident.id, datetime.now(UTC))
        session.expunge(incident)
    return incident


def placed_calls(svc, incident_id: int) -> dict[str, Call]:
    """Mark every alert call of the incident as placed (queued at Twilio, with a SID): by phone."""
    calls: dict[str, Call] = {}
    with svc.db.session() as session:
        rows = session.scalars(select(OutboundMessage).where(
            OutboundMessage.incident_id == incident_id, OutboundMessage.channel == Channel.VOICE.value)).all()
        for message in rows:
            sid = "CA" + uuid.uuid4().hex
            session.execute(update(OutboundMessage).where(OutboundMessage.id == message.id).values(
                status=DeliveryStatus.QUEUED.value, provider_sid=sid))
            phone = svc.cipher.decrypt(message.to_token)
            calls[phone] = Call(message.id, sid, message.member_id, phone)
    return calls


def press(client, call: Call, digits: str | None, play: int = 1, *, query: str | None = None, **kwargs: Any) -> Any:
    """Twilio's Gather callback to the action URL we gave: no Digits at all when nothing was pressed."""
    params = {"CallSid": call.sid, "AccountSid": ACCOUNT_SID, "From": FROM_NUMBER, "To": call.phone,
              "CallStatus": "in-progress", "Direction": "outbound-api", "ApiVersion": "2010-04-01"}
    if digits is not None:
        params["Digits"] = digits
        params["FinishedOnKey"] = ""
    return signed_post(client, "/twilio/voice/alert", params,
                       query=query if query is not None else f"m={call.message_id}&p={play}", **kwargs)


def call_status(client, call: Call, status: str, *, answered_by: str | None = None, query: str | None = None,
                sid: str | None = None, **kwargs: Any) -> Any:
    """Twilio's call status callback to the StatusCallback URL we gave, then the drain job's work."""
    params = {"CallSid": sid or call.sid, "AccountSid": ACCOUNT_SID, "From": FROM_NUMBER, "To": call.phone,
              "CallStatus": status, "Direction": "outbound-api", "ApiVersion": "2010-04-01",
              "CallbackSource": "call-progress-events", "SequenceNumber": "0"}
    if answered_by is not None:
        params["AnsweredBy"] = answered_by
    response = signed_post(client, "/twilio/voice/status", params,
                           query=query if query is not None else f"m={call.message_id}", **kwargs)
    svc = client.application.extensions["rapidresponse"]
    StatusInbox.of(svc).drain(lambda updates: delivery.apply_statuses(svc, updates, datetime.now(UTC)))
    return response


def spoken(xml: bytes) -> list[tuple[str, str]]:
    """The verbs of a TwiML answer, in order: ('Say', words), ('Gather', action), ('Hangup', '')."""
    verbs: list[tuple[str, str]] = []

    def walk(element: ElementTree.Element) -> None:
        for child in element:
            if child.tag == "Gather":
                verbs.append(("Gather", child.get("action") or ""))
                walk(child)
            else:
                verbs.append((child.tag, (child.text or "").strip()))

    walk(ElementTree.fromstring(xml))
    return verbs


def said(xml: bytes) -> str:
    return " ".join(words for verb, words in spoken(xml) if verb == "Say")


def thread(svc, incident_id: int, kind: str) -> list[ThreadEvent]:
    with svc.db.session() as session:
        events = session.scalars(select(ThreadEvent).where(ThreadEvent.incident_id == incident_id,
                                                           ThreadEvent.kind == kind).order_by(ThreadEvent.id)).all()
        for event in events:
            session.expunge(event)
        return list(events)
