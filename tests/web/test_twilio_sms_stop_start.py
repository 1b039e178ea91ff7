"""STOP and START by text: opted out at once, remembered, undone only by the person, and no alert after.

With a Twilio Messaging Service, Twilio answers its own opt-out and opt-in words; we honour them
silently so the person never gets two confirmations.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from rapidresponse import create_app
from rapidresponse.db import utcnow
from rapidresponse.escalation.service import evaluate
from rapidresponse.incidents.models import Incident
from rapidresponse.members.models import MemberStatus
from rapidresponse.messaging.models import DeliveryStatus, OutboundMessage, Purpose
from rapidresponse.messaging.sender import Sender
from rapidresponse.services import Services, build_services
from rapidresponse.settings import Settings
from tests.conftest import Phone, add_member, clear_queues, member
from tests.conftest import test_env as make_env  # aliased: pytest would collect test_env

STRANGER = "+12125550140"
MEMBER = "+12125550141"
RESPONDER = "+12125550142"
OTHER_RESPONDER = "+12125550143"
REPORTER = "+12125550144"
MESSAGING_SERVICE_SID = "MG" + "0123456789abcdef" * 2

STOPPED = {"en": "You're unsubscribed from Rapid Response", "es": "Te dimos de baja de Rapid Response"}
RESTARTED = {"en": "Welcome back to Rapid Response", "es": "Qué bueno tenerte de vuelta"}

# Twilio's own opt-out words on a Messaging Service, and ours in Spanish; only the whole message counts.
TWILIO_STOP_WORDS = ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"]
STOP_WORDS = [(word, "en") for word in TWILIO_STOP_WORDS] + [
    ("stop", "en"), ("Stop.", "en"), (" quit ", "en"),
    ("PARAR", "es"), ("ALTO", "es"), ("parar", "es"), ("Alto!", "es"),
]
START_WORDS = ["START", "start", "UNSTOP", "YES", "yes"]


def status_of(svc: Services, phone: str) -> str | None:
    found = member(svc, phone)
    return None if found is None else found.status


# --- STOP ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("word", "keyword_language"), STOP_WORDS)
@pytest.mark.parametrize("language", ["en", "es"])
def test_stop_word_opts_a_member_out_at_once(client, svc, word, keyword_language, language):
    """Every stop word opts the member out immediately and confirms in the member's language."""
    add_member(svc, MEMBER, language=language, roles="responder", trees={"ice": 1})
    assert STOPPED[language] in Phone(client, MEMBER).reply_to(word)
    found = member(svc, MEMBER)
    assert found.status == "opted_out" and found.opted_out_at is not None


@pytest.mark.parametrize(("word", "language"), STOP_WORDS)
def test_stop_from_a_stranger_is_remembered(client, svc, word, language):
    """A stranger's STOP is confirmed in the word's language and kept as an opted-out member row."""
    assert STOPPED[language] in Phone(client, STRANGER).reply_to(word)
    found = member(svc, STRANGER)
    assert found is not None
    assert (found.status, found.language) == ("opted_out", language)


def test_stop_from_a_pending_member_opts_them_out(client, svc):
    """STOP between JOIN and YES opts out; the later YES rejoins only because they asked."""
    phone = Phone(client, MEMBER)
    phone.reply_to("JOIN")
    phone.reply_to("STOP")
    assert status_of(svc, MEMBER) == "opted_out"


@pytest.mark.parametrize("body", [
    "stop the raid", "STOP them, ICE at 5th", "Stop sending the vans", "please stop", "STOP STOP",
    "parar la redada", "alto ahí", "cancel that, false alarm", "end of the block", "quit it",
])
def test_a_sentence_with_a_stop_word_is_not_an_opt_out(client, svc, body):
    """Only a stop word on its own opts out: 'stop the raid' leaves the member subscribed."""
    add_member(svc, MEMBER, roles="responder", trees={"ice": 1})
    reply = Phone(client, MEMBER).reply_to(body)
    assert status_of(svc, MEMBER) == "active"
    assert STOPPED["en"] not in reply


def test_stop_twice_stays_out(client, svc):
    """A second STOP keeps the member out and confirms again."""
    add_member(svc, MEMBER)
    phone = Phone(client, MEMBER)
    phone.reply_to("STOP")
    assert STOPPED["en"] in phone.reply_to("STOP")
    assert status_of(svc, MEMBER) == "opted_out"


# --- START / UNSTOP / YES --------------------------------------------------------------------------

@pytest.mark.parametrize("word", START_WORDS)
@pytest.mark.parametrize("language", ["en", "es"])
def test_start_after_stop_rejoins(client, svc, word, language):
    """START, UNSTOP or YES after STOP makes the member active again, confirmed in their language."""
    add_member(svc, MEMBER, language=language)
    phone = Phone(client, MEMBER)
    phone.reply_to("STOP")
    assert RESTARTED[language] in phone.reply_to(word)
    found = member(svc, MEMBER)
    assert found.status == "active" and found.opted_out_at is None and found.consented_at is not None


def test_si_after_parar_rejoins_in_spanish(client, svc):
    """A Spanish member who texted PARAR comes back with SI and is welcomed back in Spanish."""
    add_member(svc, MEMBER, language="es")
    phone = Phone(client, MEMBER)
    assert STOPPED["es"] in phone.reply_to("PARAR")
    assert RESTARTED["es"] in phone.reply_to("SI")
    assert status_of(svc, MEMBER) == "active"


def test_join_after_stop_asks_to_confirm_again(client, svc):
    """JOIN after STOP is a fresh request: the member is pending until they text YES."""
    add_member(svc, MEMBER)
    phone = Phone(client, MEMBER)
    phone.reply_to("STOP")
    assert "reply YES" in phone.reply_to("JOIN")
    assert status_of(svc, MEMBER) == "pending"
    phone.reply_to("YES")
    assert status_of(svc, MEMBER) == "active"


# --- with a Messaging Service, Twilio answers STOP / START itself ----------------------------------

@pytest.fixture
def mg_svc(tmp_path: Any, database_url: str) -> Iterator[Services]:
    env = make_env(tmp_path, database_url, TWILIO_MESSAGING_SERVICE_SID=MESSAGING_SERVICE_SID)
    settings = Settings.from_env(env)
    services = build_services(settings)
    services.db.create_all()
    yield services
    clear_queues(services.redis, settings.queue_prefix)
    services.db.engine.dispose()


@pytest.fixture
def mg_client(mg_svc: Services) -> Any:
    app = create_app(services=mg_svc)
    app.config.update(TESTING=True)
    return app.test_client()


@pytest.mark.parametrize("word", TWILIO_STOP_WORDS)
def test_messaging_service_stop_gets_no_reply_from_us_but_is_honoured(mg_client, mg_svc, word):
    """On a Messaging Service, Twilio answers STOP; we send nothing back but opt the member out."""
    add_member(mg_svc, MEMBER)
    response = Phone(mg_client, MEMBER).text(word)
    assert response.status_code == 200 and b"<Message" not in response.data
    assert status_of(mg_svc, MEMBER) == "opted_out"


@pytest.mark.parametrize("word", ["START", "UNSTOP", "YES"])
def test_messaging_service_start_gets_no_reply_from_us_but_is_honoured(mg_client, mg_svc, word):
    """On a Messaging Service, Twilio answers START/UNSTOP/YES; we stay silent but rejoin the member."""
    add_member(mg_svc, MEMBER)
    phone = Phone(mg_client, MEMBER)
    phone.text("STOP")
    response = phone.text(word)
    assert response.status_code == 200 and b"<Message" not in response.data
    assert status_of(mg_svc, MEMBER) == "active"


def test_messaging_service_stranger_stop_is_remembered_silently(mg_client, mg_svc):
    """A stranger's STOP on a Messaging Service is stored as opted out, with no second reply."""
    response = Phone(mg_client, STRANGER).text("STOP")
    assert b"<Message" not in response.data
    assert status_of(mg_svc, STRANGER) == "opted_out"


@pytest.mark.parametrize("word", ["PARAR", "ALTO"])
def test_messaging_service_spanish_stop_is_confirmed_by_us(mg_client, mg_svc, word):
    """Twilio does not know PARAR/ALTO, so we confirm them ourselves, in Spanish."""
    add_member(mg_svc, MEMBER, language="es")
    response = Phone(mg_client, MEMBER).text(word)
    assert STOPPED["es"] in response.data.decode()
    assert status_of(mg_svc, MEMBER) == "opted_out"


def test_messaging_service_si_after_stop_is_confirmed_by_us(mg_client, mg_svc):
    """Twilio does not treat SI as an opt-in word, so our welcome back is the only answer."""
    add_member(mg_svc, MEMBER, language="es")
    phone = Phone(mg_client, MEMBER)
    phone.text("PARAR")
    assert RESTARTED["es"] in phone.text("SI").data.decode()
    assert status_of(mg_svc, MEMBER) == "active"


def test_messaging_service_help_still_answers(mg_client, mg_svc):
    """A Messaging Service changes nothing for other keywords: JOIN still gets our prompt."""
    assert b"reply YES" in Phone(mg_client, STRANGER).text("JOIN").data


# --- no alert reaches anyone who has not consented -------------------------------------------------

def open_ice_incident(svc: Services, client: Any) -> int:
    reply = Phone(client, REPORTER).reply_to("ICE 5th and Main")
    with svc.db.session() as session:
        incident = session.scalars(select(Incident)).one()
        assert incident.code in reply
        evaluate(svc, session, incident.id, utcnow())
        return incident.id


def alerted(svc: Services, incident_id: int) -> set[int]:
    with svc.db.session() as session:
        return set(session.scalars(select(OutboundMessage.member_id).where(
            OutboundMessage.incident_id == incident_id, OutboundMessage.purpose == Purpose.ALERT.value,
        )).all())


@pytest.mark.parametrize("word", ["STOP", "PARAR", "OPTOUT"])
def test_no_alert_after_stop(client, svc, word):
    """A layer-1 responder who texted STOP gets no alert when a report opens; the others do."""
    stopped = add_member(svc, RESPONDER, roles="responder", trees={"ice": 1})
    other = add_member(svc, OTHER_RESPONDER, roles="responder", trees={"ice": 1})
    Phone(client, RESPONDER).reply_to(word)
    incident_id = open_ice_incident(svc, client)
    assert alerted(svc, incident_id) == {other}
    assert stopped not in alerted(svc, incident_id)


def test_pending_member_gets_no_alert(client, svc):
    """Someone who texted JOIN but never YES is not alerted, even when placed in a layer."""
    pending = add_member(svc, RESPONDER, roles="responder", trees={"ice": 1}, status=MemberStatus.PENDING)
    other = add_member(svc, OTHER_RESPONDER, roles="responder", trees={"ice": 1})
    assert "reply YES" in Phone(client, RESPONDER).reply_to("JOIN")
    assert status_of(svc, RESPONDER) == "pending"
    incident_id = open_ice_incident(svc, client)
    assert alerted(svc, incident_id) == {other}
    assert pending not in alerted(svc, incident_id)


def test_alert_recorded_before_stop_is_cancelled_not_sent(client, svc, twilio_api):
    """An alert still waiting to go out when the responder texts STOP is cancelled, never sent."""
    responder = add_member(svc, RESPONDER, roles="responder", trees={"ice": 1})
    incident_id = open_ice_incident(svc, client)
    assert alerted(svc, incident_id) == {responder}
    Phone(client, RESPONDER).reply_to("STOP")
    with svc.db.session() as session:
        ids = list(session.scalars(select(OutboundMessage.id).where(
            OutboundMessage.purpose == Purpose.ALERT.value)).all())
    sender = Sender(svc)
    try:
        outcome = sender.send(ids)
    finally:
        sender.close()
    assert outcome.cancelled == 1 and outcome.sent == 0
    assert not [call for call in twilio_api.calls if "Messages.json" in call.request.url]
    with svc.db.session() as session:
        assert session.scalars(select(OutboundMessage.status).where(
            OutboundMessage.id.in_(ids))).all() == [DeliveryStatus.CANCELLED.value]
