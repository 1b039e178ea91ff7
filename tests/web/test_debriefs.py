"""Debriefs: a day after an incident closes, those who said YES are asked how it went; 1 fine, 2 need support
(a follow-up for coordinators), or a few words; answers reach the thread and the after-action page."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from rapidresponse.audit.models import AuditEvent
from rapidresponse.debriefs import service as debriefs
from rapidresponse.debriefs.models import Debrief
from rapidresponse.incidents.models import Incident, ThreadEvent
from rapidresponse.messaging.models import OutboundMessage
from rapidresponse.privacy.retention import purge
from tests.conftest import Phone, add_member
from tests.web.test_console_auth import add_coordinator, sign_in
from tests.web.test_drills import COORDINATOR, RESPONDER, VERIFIER, only_incident, start_fan_out

SECOND = "+12125550135"


def closed_incident_with_two_yes(client, svc) -> Incident:
    """A report; the verifier confirms; two responders say YES (one in Spanish); a coordinator resolves it."""
    add_member(svc, VERIFIER, roles="responder", trees={"ice": 1})
    add_member(svc, RESPONDER, roles="responder", trees={"ice": 2})
    add_member(svc, SECOND, roles="responder", trees={"ice": 2}, language="es")
    add_member(svc, COORDINATOR, roles="coordinator")
    Phone(client, "+12125550199").reply_to("ICE 5th and Main")
    incident = only_incident(svc)
    start_fan_out(svc, incident.id)
    Phone(client, VERIFIER).reply_to(f"CONFIRM {incident.code}")
    start_fan_out(svc, incident.id)
    Phone(client, RESPONDER).reply_to("YES")
    Phone(client, SECOND).reply_to("SI")
    Phone(client, COORDINATOR).reply_to(f"RESOLVE {incident.code}")
    return only_incident(svc)


def texts_to(svc, member_phone: str) -> list[str]:
    index = svc.cipher.blind_index(member_phone)
    with svc.db.session() as session:
        return [svc.cipher.decrypt(m.body_token) for m in session.scalars(
            select(OutboundMessage).where(OutboundMessage.to_index == index).order_by(OutboundMessage.id))]


def ask_due(svc, when) -> list[int]:
    with svc.db.session() as session:
        return debriefs.send_due(session, svc.cipher, when)


def test_those_who_said_yes_are_asked_a_day_after_close(client, svc):
    """Closing plans one debrief per YES; nothing is sent before 24 h; at 24 h each is asked once, in their language."""
    incident = closed_incident_with_two_yes(client, svc)
    assert incident.closed_at is not None
    assert ask_due(svc, incident.closed_at + timedelta(hours=23)) == []
    day = incident.closed_at + timedelta(hours=24)
    assert len(ask_due(svc, day)) == 2
    assert ask_due(svc, day + timedelta(minutes=5)) == []  # once
    assert texts_to(svc, RESPONDER)[-1].startswith(f"[{incident.code}] How did it go? Reply 1 if you're OK, 2")
    assert texts_to(svc, SECOND)[-1].startswith(f"[{incident.code}] ¿Cómo te fue?")
    assert not any("How did it go" in t for t in texts_to(svc, VERIFIER))  # verifier never said YES


def test_two_opens_a_follow_up_and_one_and_words_reach_the_thread(client, svc):
    """2 opens a follow-up; 1 is fine; words go into the thread under the role only; all count on the page."""
    incident = closed_incident_with_two_yes(client, svc)
    ask_due(svc, incident.closed_at + timedelta(hours=24))
    assert "A coordinator will get in touch" in Phone(client, RESPONDER).reply_to("2")
    assert "Nos alegra" in Phone(client, SECOND).reply_to("1")
    assert "llegaron a coordinación" in Phone(client, SECOND).reply_to("Todo bien, gracias por organizar")
    with svc.db.session() as session:
        lines = list(session.scalars(select(ThreadEvent).where(ThreadEvent.incident_id == incident.id,
                                                               ThreadEvent.kind == "debrief")))
        assert [e.detail["answer"] for e in lines] == ["support", "fine", "text"]
        assert {e.actor for e in lines} == {"responder"} and all(e.participant_id is None for e in lines)
        assert svc.cipher.decrypt(lines[2].body_token) == "Todo bien, gracias por organizar"
        [support] = debriefs.follow_ups(session, svc.cipher)
        assert support.code == incident.code and support.masked == "…" + RESPONDER[-4:]

    add_coordinator(svc)
    sign_in(client)
    page = client.get(f"/incidents/{incident.id}/after-action").data.decode()
    assert "2</b> asked" not in page and "2 asked" in page and "<b>1</b> need support" in page
    assert "Todo bien, gracias por organizar" in page
    listed = client.get("/follow-ups").data.decode()
    assert f"…{RESPONDER[-4:]} needs support" in listed and RESPONDER not in listed
    revealed = client.post(f"/follow-ups/{support.debrief_id}/reveal").data.decode()
    assert f'href="tel:{RESPONDER}"' in revealed
    with svc.db.session() as session:
        assert session.scalars(select(AuditEvent).where(AuditEvent.action == "reveal")).first() is not None
    assert client.post(f"/follow-ups/{support.debrief_id}/done").status_code == 302
    assert "No follow-ups waiting" in client.get("/follow-ups").data.decode()


def test_an_open_alert_takes_the_one_not_the_debrief(client, svc):
    """While an alert is open for them, a 1 is a YES for the alert, not a debrief answer."""
    incident = closed_incident_with_two_yes(client, svc)
    ask_due(svc, incident.closed_at + timedelta(hours=24))
    Phone(client, "+12125550199").reply_to("ICE again at the school")
    with svc.db.session() as session:
        new = session.scalars(select(Incident).where(Incident.id != incident.id)).one()
    start_fan_out(svc, new.id)
    Phone(client, VERIFIER).reply_to(f"CONFIRM {new.code}")
    start_fan_out(svc, new.id)
    assert "on the way" in Phone(client, RESPONDER).reply_to("1")
    with svc.db.session() as session:
        assert session.scalars(select(Debrief).where(Debrief.answer.is_not(None))).first() is None


def test_debriefs_go_with_their_incident_under_retention(client, svc):
    """Retention deletes an old closed incident's debriefs with it."""
    incident = closed_incident_with_two_yes(client, svc)
    with svc.db.session() as session:
        purge(session, incident.closed_at + timedelta(days=1))
    with svc.db.session() as session:
        assert session.scalars(select(Debrief)).first() is None
