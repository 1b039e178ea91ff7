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


# --- in Spanish ------------------------------------------------------------------------------


def test_9_switches_a_coordinators_menu_to_spanish_and_the_decision_is_read_back_in_it(client, svc):
    """A console coordinator (no language of their own: English first) hears Spanish offered on 9;
    after 9 the whole menu is in Spanish with Spanish voices, English is offered on 9, and 1
    confirms the incident (audited as that coordinator) and says so in Spanish."""
    coordinator_id = add_coordinator(svc)
    give_phone(svc, coordinator_id)
    incident = texted_report(client, svc)
    call = HotlineCall(client, COORDINATOR_PHONE)
    english = call.ring()
    assert english.said[-1].text == "Para español, oprima 9." and english.said[-1].language == "es-MX"
    spanish = call.press("9")
    letters = ", ".join(incident.code)
    assert "Menú de coordinadores de Respuesta Rápida." in spanish.text
    assert f"El incidente {letters}, Actividad de ICE, reportado hace 0 minutos, está esperando a un verificador." \
        in spanish.text
    assert "Para confirmarlo, oprima 1." in spanish.text and "For English, press 9." in spanish.text
    assert {s.language for s in spanish.said[:-1]} == {"es-MX"} and spanish.said[0].voice == "Polly.Mia"
    assert spanish.query() == {"step": "coordinator", "lang": "es", "play": "2", "incident": str(incident.id)}
    done = call.press("1")
    assert done.text == f"El incidente {letters} está confirmado. Estamos avisando al siguiente grupo. Adiós."
    assert done.said[0].language == "es-MX" and done.hangs_up
    assert status(svc, incident.id) == "confirmed"
    with svc.db.session() as session:
        entry = session.scalars(select(AuditEvent).where(AuditEvent.action == audit.AuditAction.CONFIRM.value)).one()
        assert entry.actor_id == coordinator_id


def test_9_again_switches_back_to_english(client, svc):
    """From the Spanish coordinator menu, 9 brings English back."""
    give_phone(svc, add_coordinator(svc))
    texted_report(client, svc)
    call = HotlineCall(client, COORDINATOR_PHONE)
    call.ring()
    call.press("9")
    back = call.press("9")
    assert "Rapid Response coordinator menu." in back.text and back.query()["lang"] == "en"
    assert back.said[-1].text == "Para español, oprima 9."


def test_a_spanish_coordinator_picks_an_incident_by_code_and_stands_it_down_in_spanish(client, svc):
    """A member coordinator whose language is Spanish hears the menu in Spanish first (English on
    9); 4 asks for the code in Spanish, a code nobody has is said so in Spanish, the right code
    reads that incident, and 2 stands it down as a false alarm, said in Spanish."""
    add_member(svc, COORDINATOR_PHONE, roles="coordinator", language="es")
    older = texted_report(client, svc, "ICE first")
    newer = texted_report(client, svc, "EVICTION second")
    with svc.db.session() as session:  # codes are random: give them keys that cannot be confused
        for incident_id, code in ((older.id, "A2"), (newer.id, "T9")):
            found = session.get(Incident, incident_id)
            assert found is not None
            found.code = found.open_code = code
    call = HotlineCall(client, COORDINATOR_PHONE)
    menu = call.ring()
    assert "El incidente T, 9, Desalojo, reportado hace 0 minutos" in menu.text
    assert menu.said[-1].text == "For English, press 9." and menu.said[-1].language == "en-US"
    ask = call.press("4")
    assert ask.text == ("Marque el código del incidente en el teclado, cada letra en su tecla, "
                        "y luego oprima la tecla de gato.")
    assert ask.query()["lang"] == "es"
    assert call.press("11#").text.startswith("Ningún incidente abierto tiene ese código.")
    chosen = call.press(keypad("A2") + "#")
    assert "El incidente A, 2, Actividad de ICE" in chosen.text and chosen.query()["incident"] == str(older.id)
    done = call.press("2")
    assert done.text == ("El incidente A, 2 se canceló como falsa alarma. Estamos avisando a todos los "
                         "alertados. Adiós.")
    assert status(svc, older.id) == "false_alarm" and status(svc, newer.id) == "reported"


def test_in_spanish_a_closed_incident_is_said_closed_and_0_reports_in_spanish(client, svc):
    """Keys on an incident closed meanwhile say, in Spanish, that it is closed; 0 gives the caller's
    menu in Spanish, and the report recorded from it opens an incident."""
    add_member(svc, COORDINATOR_PHONE, roles="coordinator", language="es")
    incident = texted_report(client, svc)
    call = HotlineCall(client, COORDINATOR_PHONE)
    call.ring()
    with svc.db.session() as session:
        found = session.get(Incident, incident.id)
        assert found is not None
        threads.decide(svc, session, found, threads.Decision.RESOLVE, 1, utcnow())
    assert call.press("3").text == f"El incidente {', '.join(incident.code)} ya está cerrado. Adiós."
    call = HotlineCall(client, COORDINATOR_PHONE)
    none_open = call.ring()
    assert none_open.text.startswith("Menú de coordinadores de Respuesta Rápida. No hay ningún incidente abierto")
    report_menu = call.press("0")
    assert "Para Actividad de ICE, oprima 1." in report_menu.text and report_menu.query()["lang"] == "es"
    assert "Después del tono" in call.press("1").text
    call.speak(20)
    with svc.db.session() as session:
        assert len(list(session.scalars(select(Incident).where(Incident.closed_at.is_(None))))) == 1
