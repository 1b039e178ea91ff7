"""Deleting texts at the provider: when each is due, retries, 404s, and what our rows keep after."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import responses
from sqlalchemy import select

from rapidresponse.db import utcnow
from rapidresponse.jobs.tasks import queue_provider_deletes
from rapidresponse.messaging import deletes
from rapidresponse.messaging.models import DeliveryStatus, InboundMessage, OutboundMessage
from rapidresponse.services import build_services
from rapidresponse.settings import Settings
from tests.conftest import ACCOUNT_SID, Phone, row

DELAY = timedelta(seconds=5)
MESSAGE_URL = re.compile(rf"https://api\.twilio\.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/(SM\w+)\.json")
NOT_YET = {"code": 20009, "message": "Unable to delete record", "status": 409}


def sent_text(svc, status: str, *, sid: str, at) -> int:
    with svc.db.session() as session:
        message = OutboundMessage(dedupe_key=f"t:{sid}", to_index="x", to_token=svc.cipher.encrypt("+12125550140"),
                                  body_token=svc.cipher.encrypt("ICE at the school"), purpose="alert",
                                  status=status, provider_sid=sid, created_at=at, sent_at=at, status_at=at)
        session.add(message)
        session.flush()
        return message.id


def due(svc, now) -> deletes.Due:
    with svc.db.session() as session:
        return deletes.claim_due(session, now, DELAY)


def run(svc, found: deletes.Due, now) -> deletes.Deleted:
    return deletes.delete_claimed(svc, found, lambda: now)


def requests_to(mock: responses.RequestsMock) -> list[str]:
    return [c.request.url.rsplit("/", 1)[-1].removesuffix(".json") for c in mock.calls
            if c.request.method == "DELETE"]


@pytest.fixture
def deletes_api(twilio_api):
    """Twilio's Messages resource answers DELETE with 204 unless a test adds other answers first."""
    return twilio_api


@pytest.mark.parametrize("status", ["delivered", "undelivered", "failed"])
def test_final_text_is_deleted_after_the_delay_and_forgets_its_sid(svc, deletes_api, status):
    """A final text is left alone until the delay has passed, then deleted once, and its SID dropped."""
    now = utcnow()
    message_id = sent_text(svc, status, sid="SM" + "a" * 32, at=now)
    assert not due(svc, now + DELAY / 2)
    found = due(svc, now + DELAY)
    assert found.outbound == [message_id]
    deletes_api.add(responses.DELETE, MESSAGE_URL, status=204)
    assert run(svc, found, now + DELAY).deleted == 1
    assert requests_to(deletes_api) == ["SM" + "a" * 32]
    kept = row(svc, OutboundMessage, message_id)
    assert kept.provider_sid is None and kept.status == status  # the status logic keeps what it needs
    assert not due(svc, now + DELAY * 100)


def test_refused_delete_is_tried_again_with_backoff_until_it_goes(svc, deletes_api):
    """Twilio's 20009 (still processing) leaves the SID and tries again 1, then 2 minutes later."""
    now = utcnow()
    message_id = sent_text(svc, "delivered", sid="SM" + "b" * 32, at=now - DELAY)
    deletes_api.add(responses.DELETE, MESSAGE_URL, status=409, json=NOT_YET)
    assert run(svc, due(svc, now), now).retry == 1
    assert row(svc, OutboundMessage, message_id).provider_sid == "SM" + "b" * 32
    assert not due(svc, now + timedelta(seconds=59))
    assert run(svc, due(svc, now + timedelta(seconds=60)), now + timedelta(seconds=60)).retry == 1
    assert not due(svc, now + timedelta(seconds=179))
    deletes_api.replace(responses.DELETE, MESSAGE_URL, status=204)
    later = now + timedelta(seconds=180)
    assert run(svc, due(svc, later), later).deleted == 1
    assert row(svc, OutboundMessage, message_id).provider_sid is None
    assert len(requests_to(deletes_api)) == 3


def test_already_gone_counts_as_deleted(svc, deletes_api):
    """A 404 (deleted already, perhaps by a job that ran twice) is done, not retried."""
    now = utcnow()
    message_id = sent_text(svc, "delivered", sid="SM" + "c" * 32, at=now - DELAY)
    deletes_api.add(responses.DELETE, MESSAGE_URL, status=404,
                    json={"code": 20404, "message": "The requested resource was not found", "status": 404})
    assert run(svc, due(svc, now), now).already_gone == 1
    assert row(svc, OutboundMessage, message_id).provider_sid is None


def test_text_that_never_reports_is_deleted_after_the_bounded_wait(svc, deletes_api):
    """No final status ever came: the text is still deleted, an hour after it was sent."""
    now = utcnow()
    message_id = sent_text(svc, "sent", sid="SM" + "d" * 32, at=now)
    assert not due(svc, now + deletes.UNREPORTED_WAIT - timedelta(seconds=1))
    assert due(svc, now + deletes.UNREPORTED_WAIT).outbound == [message_id]


def test_a_claimed_delete_is_not_queued_twice_until_its_claim_runs_out(svc):
    """The sweep claims what is due; a second sweep leaves it, unless the first job was lost."""
    now = utcnow()
    message_id = sent_text(svc, "delivered", sid="SM" + "e" * 32, at=now - DELAY)
    assert due(svc, now).outbound == [message_id]
    assert not due(svc, now + timedelta(seconds=1))
    assert due(svc, now + deletes.CLAIM).outbound == [message_id]


def test_inbound_text_is_deleted_once_handled_and_a_retry_is_still_a_duplicate(client, svc, deletes_api):
    """A stored, handled text is deleted at the provider; its SID becomes a keyed hash, and
    Twilio retrying the same webhook afterwards still gets no second answer."""
    sid = "SM" + "f" * 32
    reply = Phone(client, "+12125550141").text("HELP", sid=sid)
    assert b"<Message" in reply.data
    found = due(svc, utcnow() + DELAY)
    assert len(found.inbound) == 1
    deletes_api.add(responses.DELETE, MESSAGE_URL, status=204)
    assert run(svc, found, utcnow()).deleted == 1
    assert requests_to(deletes_api) == [sid]
    stored = row(svc, InboundMessage, found.inbound[0])
    assert stored.provider_deleted_at is not None and sid not in stored.message_sid
    again = Phone(client, "+12125550141").text("HELP", sid=sid)
    assert again.status_code == 200 and b"<Message" not in again.data
    with svc.db.session() as session:
        assert len(session.scalars(select(InboundMessage)).all()) == 1


def test_twiml_reply_carries_a_status_callback_for_its_own_delete(client, svc):
    """A reply in TwiML names our status URL as its action, so its SID reaches us and it can be deleted."""
    reply = Phone(client, "+12125550142").text("HELP")
    with svc.db.session() as session:
        [message] = session.scalars(select(OutboundMessage)).all()
    assert f'action="https://rr.example.org/twilio/status?m={message.id}"'.encode() in reply.data
    assert message.status == DeliveryStatus.QUEUED.value


def test_provider_delete_off_deletes_nothing(env, deletes_api):
    """PROVIDER_DELETE=off: the sweep claims and queues no deletes at all."""
    svc = build_services(Settings.from_env(dict(env, PROVIDER_DELETE="off")))
    svc.db.create_all()
    try:
        sent_text(svc, "delivered", sid="SM" + "0" * 32, at=utcnow() - timedelta(days=1))
        assert queue_provider_deletes(svc, utcnow()) == 0
        assert due(svc, utcnow()).outbound  # the sweep claimed nothing: still due once turned on
    finally:
        svc.db.engine.dispose()
        svc.redis.close()


CALL_URL = re.compile(rf"https://api\.twilio\.com/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/(CA\w+)\.json")


@pytest.mark.parametrize("status", ["delivered", "undelivered", "failed"])
def test_final_alert_call_is_deleted_through_the_calls_resource(svc, deletes_api, status):
    """An alert call's record (both numbers, when, how long) is deleted at Twilio like a text, through
    the Calls resource, and its SID dropped; texts still go through Messages."""
    now = utcnow()
    call_id = sent_text(svc, status, sid="CA" + "c" * 32, at=now)
    text_id = sent_text(svc, status, sid="SM" + "d" * 32, at=now)
    with svc.db.session() as session:
        session.get(OutboundMessage, call_id).channel = "voice"
    deletes_api.add(responses.DELETE, CALL_URL, status=204)
    deletes_api.add(responses.DELETE, MESSAGE_URL, status=204)
    assert run(svc, due(svc, now + DELAY), now + DELAY).deleted == 2
    urls = sorted(c.request.url for c in deletes_api.calls if c.request.method == "DELETE")
    assert [u.split("/Accounts/")[1].split("/")[1] for u in urls] == ["Calls", "Messages"]
    assert row(svc, OutboundMessage, call_id).provider_sid is None
    assert row(svc, OutboundMessage, text_id).provider_sid is None


def test_call_already_gone_at_the_provider_forgets_its_sid(svc, deletes_api):
    """A 404 for a call: already deleted there, so the SID is dropped here too."""
    now = utcnow()
    call_id = sent_text(svc, "delivered", sid="CA" + "e" * 32, at=now - DELAY)
    with svc.db.session() as session:
        session.get(OutboundMessage, call_id).channel = "voice"
    deletes_api.add(responses.DELETE, CALL_URL, status=404, json={"code": 20404, "message": "gone", "status": 404})
    assert run(svc, due(svc, now), now).already_gone == 1
    assert row(svc, OutboundMessage, call_id).provider_sid is None
