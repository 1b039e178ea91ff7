"""Reporting by text: REPORT / REPORTAR and the tree words open an incident and answer with its code."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from rapidresponse.incidents.models import Incident
from rapidresponse.incidents.service import plan_of
from rapidresponse.messaging.models import InboundMessage
from rapidresponse.services import Services
from tests.conftest import Phone, add_member

STRANGER = "+12125550120"
MEMBER = "+12125550121"

RECEIVED = {"en": "Your report is recorded, ref ", "es": "Registramos tu reporte, ref. "}
NEEDS_TEXT = {"en": "Please say what is happening", "es": "Por favor di qué pasa"}


def incidents(svc: Services) -> list[Incident]:
    with svc.db.session() as session:
        found = list(session.scalars(select(Incident).order_by(Incident.id)).all())
        session.expunge_all()
        return found


def report_text(svc: Services, incident: Incident) -> str:
    return svc.cipher.decrypt(incident.text_token)


# body, tree, language of the reply to a stranger (the keyword's), the report text kept
REPORTS = [
    ("REPORT two vans at 5th and Main", "ice", "en", "two vans at 5th and Main"),
    ("report ICE two vans at 5th and Main", "ice", "en", "two vans at 5th and Main"),
    ("REPORT EVICTION marshal at 12 Elm St", "eviction", "en", "marshal at 12 Elm St"),
    ("REPORT COPWATCH stop at 3rd and Pine", "copwatch", "en", "stop at 3rd and Pine"),
    ("ICE 5th and Main, 2 vans", "ice", "en", "5th and Main, 2 vans"),
    ("ice  5th & Main", "ice", "en", "5th & Main"),
    ("EVICTION at 12 Elm St, 3 deputies", "eviction", "en", "at 12 Elm St, 3 deputies"),
    ("COPWATCH traffic stop 3rd and Pine", "copwatch", "en", "traffic stop 3rd and Pine"),
    ("HELP ICE at my door", "ice", "en", "at my door"),
    ("REPORTAR dos camionetas en la 5a y Main", "ice", "es", "dos camionetas en la 5a y Main"),
    ("Reporte MIGRA en la 5a", "ice", "es", "en la 5a"),
    ("REPORTAR DESALOJO calle Olmo 12", "eviction", "es", "calle Olmo 12"),
    ("REPORTAR POLICÍA parada en la 3a", "copwatch", "es", "parada en la 3a"),
    ("MIGRA en la 5a y Main, 2 camionetas", "ice", "es", "en la 5a y Main, 2 camionetas"),
    ("Migra: afuera de la escuela", "ice", "es", "afuera de la escuela"),
    ("REDADA en la fábrica de la calle 8", "ice", "es", "en la fábrica de la calle 8"),
    ("DESALOJO en calle Olmo 12", "eviction", "es", "en calle Olmo 12"),
    ("POLICIA parando carros en la 3a", "copwatch", "es", "parando carros en la 3a"),
    ("Policía en la esquina de Pine", "copwatch", "es", "en la esquina de Pine"),
    ("AYUDA MIGRA en mi puerta", "ice", "es", "en mi puerta"),
]


@pytest.mark.parametrize(("body", "tree", "language", "kept"), REPORTS)
def test_stranger_report_opens_incident_on_its_tree(client, svc, body, tree, language, kept):
    """A report from anyone opens one incident on the right tree and answers with its reference code."""
    reply = Phone(client, STRANGER).reply_to(body)
    [incident] = incidents(svc)
    assert plan_of(svc.cipher, incident).name == tree and incident.is_open
    assert report_text(svc, incident) == kept
    assert RECEIVED[language] + incident.code in reply


@pytest.mark.parametrize(("language", "body"), [
    ("en", "MIGRA en la 5a"),
    ("en", "REPORTAR dos camionetas"),
    ("es", "ICE 5th and Main"),
    ("es", "REPORT two vans"),
    ("es", "EVICTION 12 Elm St"),
])
def test_member_report_is_answered_in_the_members_language(client, svc, language, body):
    """A member is answered in the language they chose, whatever the language of the word they used."""
    add_member(svc, MEMBER, language=language)
    reply = Phone(client, MEMBER).reply_to(body)
    [incident] = incidents(svc)
    assert RECEIVED[language] + incident.code in reply
    assert incident.reporter_member_id is not None


@pytest.mark.parametrize(("body", "language"), [
    ("ICE", "en"), ("REPORT", "en"), ("eviction!", "en"), ("REPORTAR", "es"), ("MIGRA", "es"),
    ("Desalojo", "es"), ("REPORTAR POLICIA", "es"),
])
def test_report_without_what_or_where_asks_for_it(client, svc, body, language):
    """A tree word alone opens nothing and asks what is happening and where."""
    assert NEEDS_TEXT[language] in Phone(client, STRANGER).reply_to(body)
    assert incidents(svc) == []


def test_two_reports_get_two_codes(client, svc):
    """Two different reports open two incidents with different reference codes."""
    phone = Phone(client, STRANGER)
    first, second = phone.reply_to("ICE 5th and Main"), phone.reply_to("DESALOJO calle Olmo 12")
    one, two = incidents(svc)
    assert one.code != two.code
    assert one.code in first and two.code in second
    assert (plan_of(svc.cipher, one).name, plan_of(svc.cipher, two).name) == ("ice", "eviction")


def test_twilio_retry_of_a_report_opens_one_incident(client, svc):
    """The same MessageSid delivered twice opens a single incident and answers only once."""
    phone = Phone(client, STRANGER)
    first = phone.text("REPORT two vans at 5th and Main", sid="SMretry0001")
    again = phone.text("REPORT two vans at 5th and Main", sid="SMretry0001")
    assert first.status_code == again.status_code == 200
    assert b"ref " in first.data and b"<Message" not in again.data
    assert len(incidents(svc)) == 1
    with svc.db.session() as session:
        assert session.scalar(select(func.count()).select_from(InboundMessage)) == 1


def test_report_from_a_stop_word_sentence_is_not_an_opt_out(client, svc):
    """'stop the raid' from a member is not an opt-out; 'ICE stop the raid' is a report."""
    add_member(svc, MEMBER)
    phone = Phone(client, MEMBER)
    reply = phone.reply_to("ICE stop the raid at 5th")
    [incident] = incidents(svc)
    assert incident.code in reply and plan_of(svc.cipher, incident).name == "ice"


@pytest.mark.parametrize(("text", "language", "truth"), [
    ("COPWATCH stop at 3rd and Pine", "en", "No volunteers can be alerted right now; our coordinators have been told"),
    ("POLICIA parando carros en la 3a", "es", "No hay voluntarios para avisar ahora; ya avisamos a los coordinadores"),
])
def test_a_report_to_an_empty_tree_is_told_the_truth(client, svc, text, language, truth):
    """Nobody in the tree: the reporter hears the report is recorded and coordinators told, not that
    volunteers are being alerted."""
    reply = Phone(client, "+12125550177").reply_to(text)
    assert RECEIVED[language] in reply and truth in reply
    assert "alerting volunteers" not in reply and "avisando a voluntarios" not in reply


def test_a_report_with_someone_to_alert_says_volunteers_are_alerted(client, svc):
    """With a responder in the tree, the usual answer: volunteers are being alerted."""
    add_member(svc, "+12125550178", roles="responder", trees={"copwatch": 2})
    reply = Phone(client, "+12125550177").reply_to("COPWATCH stop at 3rd and Pine")
    assert "We're alerting volunteers now" in reply


def test_the_reporter_alone_in_the_tree_is_not_someone_to_alert(client, svc):
    """A responder reporting to a tree only they are in hears that nobody else can be alerted."""
    add_member(svc, "+12125550177", roles="responder", trees={"copwatch": 1})
    reply = Phone(client, "+12125550177").reply_to("COPWATCH stop at 3rd and Pine")
    assert "No volunteers can be alerted" in reply
