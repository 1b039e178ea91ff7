"""POST /twilio/status: delivery callbacks recorded once each, never backwards, acted on when they say a
number is dead or opted out, and refused when not signed by Twilio."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import pytest
import responses
from sqlalchemy import select, update

from rapidresponse.incidents import service as incidents
from rapidresponse.incidents.models import ThreadEvent
from rapidresponse.members.models import Member, MemberStatus
from rapidresponse.messaging import delivery, outbox
from rapidresponse.messaging.models import DeliveryStatus, OutboundMessage, Purpose
from rapidresponse.messaging.sender import Sender
from rapidresponse.messaging.status_inbox import StatusInbox
from tests.conftest import (
    ACCOUNT_SID,
    FROM_NUMBER,
    PUBLIC_BASE_URL,
    TWILIO_MESSAGES,
    add_member,
    row,
    sign,
    signed_post,
)

NOW = datetime(2025, 3, 4, 9, 30, tzinfo=UTC)
RESPONDER = "+12125550130"
REPORTER = "+12125550131"
BODY = "RAPID RESPONSE: ICE reported at 5th & Main. Reply YES if you can go."


@pytest.fixture
def responder(svc) -> int:
    return add_member(svc, RESPONDER, roles="responder", trees={"ice": 2})


@pytest.fixture
def alert(svc, responder) -> tuple[int, int, str]:
    """An incident's alert to the responder, accepted by Twilio: (incident id, message id, SID)."""
    sid = "SM" + uuid.uuid4().hex
    with svc.db.session() as session:
        incident = incidents.open_incident(session, svc.cipher, svc.trees.get("ice"), text="ICE at 5th",
                                           reporter_phone=REPORTER, reporter=None, inbound_id=None, now=NOW)
        [message_id] = outbox.record(session, svc.cipher, [outbox.Text(
            to=RESPONDER, body=BODY, purpose=Purpose.ALERT, dedupe_key=f"alert:{incident.id}:{responder}",
            member_id=responder, incident_id=incident.id, layer=2, valid_until=NOW + timedelta(minutes=15),
        )], NOW)
        session.execute(update(OutboundMessage).where(OutboundMessage.id == message_id).values(
            status=DeliveryStatus.QUEUED.value, provider_sid=sid, claimed_at=NOW, sent_at=NOW))
        return incident.id, message_id, sid


def callback(client: Any, sid: str, status: str, message_id: int | str | None, error: int | None = None,
             **kwargs: Any) -> Any:
    """Twilio's status callback, exactly as Twilio posts it to the StatusCallback URL we gave."""
    params = {"MessageSid": sid, "SmsSid": sid, "MessageStatus": status, "SmsStatus": status,
              "AccountSid": ACCOUNT_SID, "From": FROM_NUMBER, "To": RESPONDER, "ApiVersion": "2010-04-01"}
    if error is not None:
        params["ErrorCode"] = str(error)
    response = signed_post(client, "/twilio/status", params,
                           query=f"m={message_id}" if message_id is not None else "", **kwargs)
    apply_handed_on(client.application.extensions["rapidresponse"])
    return response


def apply_handed_on(svc) -> int:
    """What the worker's job does with the callbacks the webhook handed on."""
    return StatusInbox.of(svc).drain(lambda updates: delivery.apply_statuses(svc, updates, datetime.now(UTC)))


def state(svc, message_id: int) -> tuple[str, str | None, int | None]:
    with svc.db.session() as session:
        found = session.get(OutboundMessage, message_id)
        assert found is not None
        return found.status, found.provider_sid, found.error_code


def member_row(svc, member_id: int) -> Member:
    return row(svc, Member, member_id)


def deliveries(svc, incident_id: int) -> list[str]:
    """The delivery statuses shown in the incident's thread, in order."""
    with svc.db.session() as session:
        return [event.detail["status"] for event in session.scalars(
            select(ThreadEvent).where(ThreadEvent.incident_id == incident_id, ThreadEvent.kind == "delivery")
            .order_by(ThreadEvent.id))]


# --- progress --------------------------------------------------------------------------------------

def test_delivery_progress_is_recorded(client, svc, alert):
    """queued, sent, delivered: each step shows on the text and once in the incident's thread."""
    incident_id, message_id, sid = alert
    for status in ["queued", "sent", "delivered"]:
        assert callback(client, sid, status, message_id).status_code == 204
    assert state(svc, message_id) == ("delivered", sid, None)
    assert deliveries(svc, incident_id) == ["sent", "delivered"]  # queued was already known


@pytest.mark.parametrize("status", ["sent", "delivered"])
def test_duplicated_callback_is_counted_once(client, svc, alert, status):
    """Twilio retrying the same callback changes nothing the second time."""
    incident_id, message_id, sid = alert
    for _ in range(3):
        assert callback(client, sid, status, message_id).status_code == 204
    assert state(svc, message_id)[0] == status
    assert deliveries(svc, incident_id) == [status]


@pytest.mark.parametrize(("first", "late"), [
    ("delivered", "sent"), ("delivered", "queued"), ("sent", "queued"), ("undelivered", "sent"),
    ("failed", "sent"), ("undelivered", "delivered"), ("failed", "delivered"), ("delivered", "failed"),
])
def test_late_callback_never_moves_a_text_backwards(client, svc, alert, first, late):
    """Callbacks arriving out of order never undo a later or final status."""
    incident_id, message_id, sid = alert
    callback(client, sid, first, message_id)
    assert callback(client, sid, late, message_id).status_code == 204
    assert state(svc, message_id)[0] == first
    assert deliveries(svc, incident_id) == [first]


@pytest.mark.parametrize("status", ["accepted", "sending", "read", "receiving", "pending", "cancelled",
                                    "bogus"])
def test_statuses_we_do_not_track_are_ignored(client, svc, alert, status):
    """Twilio statuses the system does not track (or could not get from Twilio) are accepted and ignored."""
    incident_id, message_id, sid = alert
    assert callback(client, sid, status, message_id).status_code == 204
    assert state(svc, message_id)[0] == "queued"
    assert deliveries(svc, incident_id) == []


# --- failures --------------------------------------------------------------------------------------

def test_unreachable_handset_is_undelivered(client, svc, alert, responder):
    """30003 (phone off or out of coverage) marks the text undelivered, a final failure, with its code."""
    incident_id, message_id, sid = alert
    assert callback(client, sid, "undelivered", message_id, error=30003).status_code == 204
    assert state(svc, message_id) == ("undelivered", sid, 30003)
    assert deliveries(svc, incident_id) == ["undelivered"]
    callback(client, sid, "delivered", message_id)
    assert state(svc, message_id)[0] == "undelivered"


@pytest.mark.parametrize("status", ["failed", "undelivered"])
def test_opted_out_callback_opts_the_member_out(client, svc, alert, responder, status):
    """21610 in a callback (they texted STOP to Twilio) opts the member out: no more alerts to them."""
    _, message_id, sid = alert
    assert callback(client, sid, status, message_id, error=21610).status_code == 204
    assert state(svc, message_id) == (status, sid, 21610)
    assert member_row(svc, responder).status == MemberStatus.OPTED_OUT.value


@pytest.mark.parametrize("code", [21211, 21614, 30005, 30006])
def test_dead_number_callback_marks_the_member(client, svc, alert, responder, code):
    """An invalid, unknown, non-mobile or landline number is marked undeliverable and left out of alerts."""
    _, message_id, sid = alert
    callback(client, sid, "undelivered", message_id, error=code)
    member = member_row(svc, responder)
    assert (member.undeliverable_code, member.status) == (code, MemberStatus.ACTIVE.value)


@pytest.mark.parametrize("code", [30001, 30003, 30007, 30008])
def test_temporary_or_content_failure_leaves_the_member_reachable(client, svc, alert, responder, code):
    """A queue overflow, a phone that is off, a carrier filter or an unknown error keeps the member."""
    _, message_id, sid = alert
    callback(client, sid, "undelivered", message_id, error=code)
    member = member_row(svc, responder)
    assert (member.undeliverable_code, member.status) == (None, MemberStatus.ACTIVE.value)


# --- what is not ours ------------------------------------------------------------------------------

@pytest.mark.parametrize("which", ["no_id", "other_id", "missing_id"])
def test_unknown_message_is_ignored(client, svc, alert, which):
    """A callback for a SID we never sent is answered 204 and changes nothing."""
    incident_id, message_id, sid = alert
    m = {"no_id": None, "other_id": message_id, "missing_id": message_id + 1000}[which]
    response = callback(client, "SM" + uuid.uuid4().hex, "delivered", m)
    assert response.status_code == 204
    assert state(svc, message_id) == ("queued", sid, None)
    assert deliveries(svc, incident_id) == []


def test_forged_callback_is_refused(client, svc, alert, responder):
    """A callback not signed with our auth token is refused (403) and changes nothing."""
    incident_id, message_id, sid = alert
    assert callback(client, sid, "failed", message_id, error=21610, token="not-our-token").status_code == 403
    assert state(svc, message_id) == ("queued", sid, None)
    assert member_row(svc, responder).status == MemberStatus.ACTIVE.value


def test_unsigned_callback_is_refused(client, svc, alert):
    """A callback without any signature is refused (403)."""
    _, message_id, sid = alert
    response = client.post(f"/twilio/status?m={message_id}",
                           data={"MessageSid": sid, "MessageStatus": "sent"})
    assert response.status_code == 403
    assert state(svc, message_id)[0] == "queued"


def test_callback_signed_for_another_message_is_refused(client, svc, alert):
    """The signature covers ?m=: a signed callback replayed against another message id is refused."""
    _, message_id, sid = alert
    params = {"MessageSid": sid, "MessageStatus": "failed", "ErrorCode": "21610"}
    signature = sign(f"{PUBLIC_BASE_URL}/twilio/status?m={message_id + 1}", params)
    response = client.post(f"/twilio/status?m={message_id}", data=params,
                           headers={"X-Twilio-Signature": signature})
    assert response.status_code == 403


@pytest.mark.parametrize("missing", ["MessageStatus", "MessageSid"])
def test_callback_without_status_or_sid_is_malformed(client, svc, alert, missing):
    """A signed callback missing MessageStatus or MessageSid is a bad request (400)."""
    _, message_id, sid = alert
    params = {"MessageSid": sid, "MessageStatus": "delivered", "AccountSid": ACCOUNT_SID}
    del params[missing]
    assert signed_post(client, "/twilio/status", params, query=f"m={message_id}").status_code == 400
    assert state(svc, message_id)[0] == "queued"


# --- racing the sender -----------------------------------------------------------------------------

def test_callback_before_the_sid_is_recorded_still_applies(client, svc, alert):
    """A callback that beats the worker's record of the SID finds the text by our id in the URL."""
    incident_id, message_id, _ = alert
    with svc.db.session() as session:
        session.execute(update(OutboundMessage).where(OutboundMessage.id == message_id).values(
            status=DeliveryStatus.SENDING.value, provider_sid=None))
    assert callback(client, "SMearly", "sent", message_id).status_code == 204
    assert state(svc, message_id) == ("sent", "SMearly", None)
    assert callback(client, "SMearly", "delivered", None).status_code == 204
    assert state(svc, message_id)[0] == "delivered"
    assert deliveries(svc, incident_id) == ["sent", "delivered"]


def test_callback_for_another_sid_does_not_take_over_a_recorded_text(client, svc, alert):
    """Our id in the URL only finds a text whose SID is not yet known, or is the same SID."""
    _, message_id, sid = alert
    callback(client, "SMsomeoneelse", "failed", message_id, error=21610)
    assert state(svc, message_id) == ("queued", sid, None)


def test_callback_during_the_send_is_kept(client, svc, twilio_api, responder):
    """A 'sent' callback that arrives while the worker is still talking to Twilio is not overwritten."""
    with svc.db.session() as session:
        [message_id] = outbox.record(session, svc.cipher, [outbox.Text(
            to=RESPONDER, body=BODY, purpose=Purpose.ALERT, dedupe_key="alert:race", member_id=responder,
            valid_until=NOW + timedelta(minutes=15))], NOW)
    sid = "SM" + uuid.uuid4().hex

    def create(request: Any) -> tuple[int, dict[str, str], str]:
        form = {k: v[0] for k, v in parse_qs(request.body or "").items()}
        assert callback(client, sid, "sent", int(form["StatusCallback"].rsplit("=", 1)[1])).status_code == 204
        return 201, {}, json.dumps({"sid": sid, "status": "queued", "account_sid": ACCOUNT_SID})

    twilio_api.replace(responses.CallbackResponse(responses.POST, TWILIO_MESSAGES, callback=create))
    sender = Sender(svc, clock=lambda: NOW)
    try:
        outcome = sender.send([message_id])
    finally:
        sender.close()
    assert outcome.sent == 1
    assert state(svc, message_id) == ("sent", sid, None)
