"""A text alert that comes back for good (30003, 30005, 30006, ...) falls back to ONE call when the
member has voice on; a landline is switched to voice (and not texted about it); a member on texts
only is not called unless their number is a landline."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select, update

from rapidresponse.incidents.service import AfterCommit
from rapidresponse.members.models import Member
from rapidresponse.messaging import delivery
from rapidresponse.messaging.models import Channel, DeliveryStatus, OutboundMessage
from tests.conftest import ACCOUNT_SID, FROM_NUMBER, Phone, row, signed_post
from tests.web.voice_helpers import placed_calls, report, voice_members

ANA = "+12125550196"


def sent_alert_text(svc, incident_id: int) -> tuple[int, str]:
    """Mark the incident's text alert as accepted by Twilio: (message id, SID)."""
    sid = "SM" + uuid.uuid4().hex
    with svc.db.session() as session:
        message_id = session.scalars(select(OutboundMessage.id).where(
            OutboundMessage.incident_id == incident_id, OutboundMessage.channel == Channel.SMS.value)).one()
        session.execute(update(OutboundMessage).where(OutboundMessage.id == message_id).values(
            status=DeliveryStatus.SENT.value, provider_sid=sid))
    return message_id, sid


def text_fails(client, sid: str, message_id: int, code: int, status: str = "undelivered") -> AfterCommit:
    """Twilio's callback for the text, then the drain job's apply (what it leaves to send is returned)."""
    params = {"MessageSid": sid, "MessageStatus": status, "ErrorCode": str(code), "AccountSid": ACCOUNT_SID,
              "From": FROM_NUMBER, "To": ANA}
    assert signed_post(client, "/twilio/status", params, query=f"m={message_id}").status_code == 204
    svc = client.application.extensions["rapidresponse"]
    after = AfterCommit()
    from datetime import UTC, datetime

    from rapidresponse.messaging.status_inbox import StatusInbox
    StatusInbox.of(svc).drain(lambda updates: delivery.apply_statuses(svc, updates, datetime.now(UTC), after))
    return after


def calls_to(svc, incident_id: int) -> list[OutboundMessage]:
    with svc.db.session() as session:
        rows = session.scalars(select(OutboundMessage).where(
            OutboundMessage.incident_id == incident_id, OutboundMessage.channel == Channel.VOICE.value)).all()
        for r in rows:
            session.expunge(r)
        return list(rows)


def member_on(svc, channel: str) -> int:
    [member_id] = voice_members(svc, ANA, channel=channel)
    return member_id


@pytest.mark.parametrize("code", [30003, 30005, 30007])
def test_failed_text_to_a_member_with_voice_on_falls_back_to_one_call(client, svc, code):
    """A member who asked for calls too (CALL ME after the alert went out) gets one call for the failed
    text, queued at once; the call speaks the alert and carries the text's layer and deadline."""
    member_id = member_on(svc, "sms")
    incident = report(client, svc)
    message_id, sid = sent_alert_text(svc, incident.id)
    Phone(client, ANA).reply_to("CALL ME")
    after = text_fails(client, sid, message_id, code)
    [call] = calls_to(svc, incident.id)
    assert after.send_ids == [call.id]
    assert call.dedupe_key == f"alert:{incident.id}:{member_id}:voice" and call.layer == 2
    assert call.valid_until == row(svc, OutboundMessage, message_id).valid_until
    assert svc.cipher.decrypt(call.body_token).startswith("Rapid Response alert")


def test_a_member_on_both_is_not_called_twice(client, svc):
    """The call planned with the text is the one call: the text's failure adds none (and, once that call
    is placed, queues nothing)."""
    member_on(svc, "both")
    incident = report(client, svc)
    placed_calls(svc, incident.id)
    message_id, sid = sent_alert_text(svc, incident.id)
    after = text_fails(client, sid, message_id, 30003)
    assert len(calls_to(svc, incident.id)) == 1 and after.send_ids == []


@pytest.mark.parametrize("status", ["undelivered", "failed"])
def test_a_landline_is_switched_to_voice_and_called(client, svc, status):
    """30006: the number is a landline. The member is switched to voice and called once; nothing is
    texted to tell them (they cannot read texts)."""
    member_id = member_on(svc, "sms")
    incident = report(client, svc)
    message_id, sid = sent_alert_text(svc, incident.id)
    after = text_fails(client, sid, message_id, 30006, status)
    assert row(svc, Member, member_id).channel == "voice"
    [call] = calls_to(svc, incident.id)
    assert after.send_ids == [call.id]
    with svc.db.session() as session:
        texts = session.scalars(select(OutboundMessage).where(OutboundMessage.member_id == member_id,
                                                             OutboundMessage.channel == "sms")).all()
    assert len(texts) == 1  # the alert itself; no "we switched you" text


def test_a_member_on_texts_only_is_not_called_for_an_unreachable_handset(client, svc):
    """30003 (phone off or out of range) for a member on sms: no call; the layer's escalation goes on."""
    member_id = member_on(svc, "sms")
    incident = report(client, svc)
    message_id, sid = sent_alert_text(svc, incident.id)
    after = text_fails(client, sid, message_id, 30003)
    assert calls_to(svc, incident.id) == [] and after.send_ids == []
    assert row(svc, Member, member_id).channel == "sms"


@pytest.mark.parametrize("code", [30001, 30008, 21610])
def test_temporary_failures_and_opt_outs_never_call(client, svc, code):
    """A temporary failure is not a reason to call, and an opted-out number is never called."""
    member_on(svc, "sms")
    incident = report(client, svc)
    message_id, sid = sent_alert_text(svc, incident.id)
    Phone(client, ANA).reply_to("CALL ME")
    text_fails(client, sid, message_id, code)
    assert calls_to(svc, incident.id) == []


def test_a_duplicated_failure_callback_falls_back_once(client, svc):
    """The same undelivered callback twice: one call."""
    member_on(svc, "sms")
    incident = report(client, svc)
    message_id, sid = sent_alert_text(svc, incident.id)
    text_fails(client, sid, message_id, 30006)
    again = text_fails(client, sid, message_id, 30006)
    assert len(calls_to(svc, incident.id)) == 1 and again.send_ids == []


def test_no_fallback_once_the_member_answered_or_the_incident_closed(client, svc):
    """A member who already answered (by another way) is not called; nor is anyone for a closed incident."""
    member_on(svc, "sms")
    incident = report(client, svc)
    message_id, sid = sent_alert_text(svc, incident.id)
    Phone(client, ANA).reply_to("CALL ME")
    Phone(client, ANA).reply_to("YES")
    text_fails(client, sid, message_id, 30003)
    assert calls_to(svc, incident.id) == []
