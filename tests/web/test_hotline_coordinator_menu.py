"""A coordinator calling the hotline from their own phone: the newest open incident read out,
then confirm, stand down or resolve it by key (the console's and SMS's own functions), or pick
another by its code, the result read back."""

from __future__ import annotations

from sqlalchemy import select

from rapidresponse import audit
from rapidresponse.audit.models import AuditEvent
from rapidresponse.console import threads
from rapidresponse.console.models import Coordinator, console_phone_index
from rapidresponse.db import utcnow
from rapidresponse.hotline.flow import keypad
from rapidresponse.incidents.models import Incident
from rapidresponse.services import Services
from tests.conftest import PUBLIC_BASE_URL, Phone, add_member
from tests.web.hotline_phone import HotlineCall
from tests.web.test_console_auth import add_coordinator

COORDINATOR_PHONE = "+12125550180"
REPORTER = "+12125550181"


def give_phone(svc: Services, coordinator_id: int, phone: str = COORDINATOR_PHONE) -> None:
    with svc.db.session() as session:
        coordinator = session.get(Coordinator, coordinator_id)
        assert coordinator is not None
        coordinator.phone_index = console_phone_index(svc.cipher, phone)
        coordinator.phone_token = svc.cipher.encrypt(phone)


def texted_report(client, svc, text: str = "ICE 5th and Main") -> Incident:
    Phone(client, REPORTER).reply_to(text)
    with svc.db.session() as session:
        incident = session.scalars(select(Incident).order_by(Incident.id.desc())).first()
        assert incident is not None
        session.expunge(incident)
        return incident


def status(svc: Services, incident_id: int) -> str:
    with svc.db.session() as session:
        found = session.get(Incident, incident_id)
        assert found is not None
        return found.status


def test_a_coordinator_hears_the_newest_open_incident(client, svc):
    """The coordinator menu reads the newest open incident's code letter by letter and the choices."""
    give_phone(svc, add_coordinator(svc))
    texted_report(client, svc, "ICE first")
    newest = texted_report(client, svc, "EVICTION second")
    menu = HotlineCall(client, COORDINATOR_PHONE).ring()
    assert "Rapid Response coordinator menu." in menu.text
    assert f"Incident {', '.join(newest.code)}, Eviction, reported 0 minutes ago" in menu.text
    assert "To confirm it, press 1." in menu.text
    assert menu.query() == {"step": "coordinator", "lang": "en", "play": "1", "incident": str(newest.id)}


def test_pressing_1_confirms_through_the_consoles_function(client, svc):
    """1 confirms the incident as the console's button does (audited as that coordinator), and says so."""
    coordinator_id = add_coordinator(svc)
    give_phone(svc, coordinator_id)
    incident = texted_report(client, svc)
    call = HotlineCall(client, COORDINATOR_PHONE)
    call.ring()
    done = call.press("1")
    assert status(svc, incident.id) == "confirmed"
    assert f"Incident {', '.join(incident.code)} is confirmed." in done.text and done.hangs_up
    with svc.db.session() as session:
        entry = session.scalars(select(AuditEvent).where(AuditEvent.action == audit.AuditAction.CONFIRM.value)).one()
        assert entry.actor_id == coordinator_id and entry.target_id == incident.id


def test_pressing_2_stands_down_and_3_resolves(client, svc):
    """2 closes as a false alarm, 3 as resolved; a second call on a closed incident hears it is closed."""
    give_phone(svc, add_coordinator(svc))
    first = texted_report(client, svc)
    call = HotlineCall(client, COORDINATOR_PHONE)
    call.ring()
    assert "stood down as a false alarm" in call.press("2").text
    assert status(svc, first.id) == "false_alarm"
    second = texted_report(client, svc)
    call = HotlineCall(client, COORDINATOR_PHONE)
    menu = call.ring()
    assert menu.query()["incident"] == str(second.id)
    assert "is resolved" in call.press("3").text
    assert status(svc, second.id) == "resolved"


def test_an_incident_closed_meanwhile_is_said_to_be_closed(client, svc):
    """Keys on an incident someone closed since the menu was read change nothing and say so."""
    give_phone(svc, add_coordinator(svc))
    incident = texted_report(client, svc)
    call = HotlineCall(client, COORDINATOR_PHONE)
    call.ring()
    with svc.db.session() as session:
        found = session.get(Incident, incident.id)
        assert found is not None
        threads.decide(svc, session, found, threads.Decision.RESOLVE, 1, utcnow())
    assert "is already closed" in call.press("1").text


def test_a_code_typed_on_the_keypad_picks_another_incident(client, svc):
    """4, then the code's keys (letters on their keys) and #, reads that incident's menu."""
    give_phone(svc, add_coordinator(svc))
    older = texted_report(client, svc, "ICE first")
    newer = texted_report(client, svc, "ICE second")
    with svc.db.session() as session:  # codes are random: give them keys that cannot be confused
        for incident_id, code in ((older.id, "A2"), (newer.id, "T9")):
            found = session.get(Incident, incident_id)
            assert found is not None
            found.code = found.open_code = code
    older.code = "A2"
    call = HotlineCall(client, COORDINATOR_PHONE)
    call.ring()
    ask = call.press("4")
    assert "Enter the incident code on the keypad" in ask.text and ask.gather is not None
    assert ask.gather.get("finishOnKey") == "#"
    menu = call.press(keypad(older.code) + "#")
    assert menu.query()["incident"] == str(older.id)
    wrong = call.press("4")
    assert wrong.gather is not None
    assert "No open incident has that code." in call.press("11").text


def test_no_open_incident_and_0_to_report(client, svc):
    """With nothing open the coordinator hears so; 0 gives the caller's menu, to report like anyone."""
    give_phone(svc, add_coordinator(svc))
    call = HotlineCall(client, COORDINATOR_PHONE)
    menu = call.ring()
    assert "There is no open incident right now." in menu.text
    report_menu = call.press("0")
    assert "For ICE activity, press 1." in report_menu.text
    call.press("1")
    call.speak(20)
    with svc.db.session() as session:
        assert len(list(session.scalars(select(Incident)))) == 1


def test_a_member_coordinator_gets_the_menu_too(client, svc):
    """A member with the coordinator role decides through the same function as their CONFIRM text."""
    add_member(svc, COORDINATOR_PHONE, roles="coordinator", language="es")
    incident = texted_report(client, svc)
    call = HotlineCall(client, COORDINATOR_PHONE)
    menu = call.ring()
    assert "Menú de coordinadores" in menu.text
    assert "está confirmado" in call.press("1").text
    assert status(svc, incident.id) == "confirmed"


def test_anyone_else_never_reaches_the_coordinator_menu(client, svc):
    """A caller who is no coordinator posting to the coordinator step gets the caller's menu."""
    incident = texted_report(client, svc)
    call = HotlineCall(client, REPORTER)
    response = call.post(PUBLIC_BASE_URL + f"/twilio/voice?step=coordinator&lang=en&play=1&incident={incident.id}",
                         Digits="2")
    assert b"For ICE activity, press 1." in response.data
    assert status(svc, incident.id) == "reported"
