"""Console incident pages: the list, the thread, coordinator decisions and notes."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from rapidresponse.db import utcnow
from rapidresponse.escalation import service as escalation
from rapidresponse.incidents.models import Incident, ThreadEvent
from rapidresponse.jobs import queues
from rapidresponse.messaging.models import OutboundMessage
from tests.conftest import Phone, add_member
from tests.web.test_console_auth import add_coordinator, sign_in

REPORTER = "+12125550199"
VERIFIERS = ("+12125550111", "+12125550112")
RESPONDERS = ("+12125550121",)
REPORT = "ICE 5th and Main, 2 vans"


@pytest.fixture
def coordinator_id(client, svc) -> int:
    coordinator_id = add_coordinator(svc)
    assert sign_in(client).status_code == 302
    return coordinator_id


def report(client, svc, text: str = REPORT, number: str = REPORTER) -> Incident:
    """A report texted in through the real webhook; returns the incident it opened."""
    reply = Phone(client, number).reply_to(text)
    with svc.db.session() as session:
        incident = session.scalars(select(Incident).order_by(Incident.id.desc())).first()
    assert incident is not None and incident.code in reply
    return incident


def alert_first_layer(svc, incident_id: int) -> None:
    """What the start_incident job would do: alert the verifiers."""
    with svc.db.session() as session:
        escalation.evaluate(svc, session, incident_id, utcnow())


def thread(svc, incident_id: int) -> list[ThreadEvent]:
    with svc.db.session() as session:
        return list(session.scalars(select(ThreadEvent).where(ThreadEvent.incident_id == incident_id)
                                    .order_by(ThreadEvent.id)).all())


def status_of(svc, incident_id: int) -> str:
    with svc.db.session() as session:
        return session.get(Incident, incident_id).status


def forms_of(number: str) -> list[str]:
    """Ways a full phone number could show up in a page."""
    digits = number[2:]
    area, exchange, line = digits[:3], digits[3:6], digits[6:]
    return [number, digits, f"{area}-{exchange}-{line}", f"({area}) {exchange}-{line}", f"{exchange}-{line}",
            exchange + line]


@pytest.fixture
def members(svc) -> None:
    for number in VERIFIERS:
        add_member(svc, number, roles="responder", zone="centro", trees={"ice": 1})
    for number in RESPONDERS:
        add_member(svc, number, roles="responder", trees={"ice": 2})


def test_incidents_list_shows_open_then_closed(client, svc, coordinator_id):
    """Open incidents come first with their code and status; closed ones follow under their own heading."""
    closed = report(client, svc, "ICE Broadway and 3rd", "+12125550198")
    client.post(f"/incidents/{closed.id}/decision", data={"decision": "resolve"})
    opened = report(client, svc)
    page = client.get("/incidents").data.decode()
    link = '>{}</a>'.format
    assert page.index(link(opened.code)) < page.index("Recently closed") < page.index(link(closed.code))
    # nobody on the way yet, of the first responding layer's quorum
    assert '<td class="onway" data-label="On the way"><b>0</b> / 3</td>' in page


def test_empty_incidents_list(client, svc, coordinator_id):
    """With no incidents the list says so."""
    page = client.get("/incidents").data.decode()
    assert "No open incidents." in page


def test_thread_shows_report_events_and_no_full_numbers(client, svc, coordinator_id, members):
    """The page shows the decrypted report, every thread event in order, layers and text counts, and never
    a full phone number (only the last four digits)."""
    incident = report(client, svc)
    alert_first_layer(svc, incident.id)
    Phone(client, VERIFIERS[0]).reply_to("YES")
    Phone(client, REPORTER).reply_to("they are at the corner now, call 212-555-0177")
    page = client.get(f"/incidents/{incident.id}").data.decode()
    assert REPORT.removeprefix("ICE ") in page
    kinds = [e.kind for e in thread(svc, incident.id)]
    assert kinds[:2] == ["report", "layer_alerted"]
    start = page.index("<h2>Thread")
    order = ("Report received; no zone named.", "Layer 1 (verifiers) alerted: 2 people.",
             "On the way (layer 1, verifiers).", "Reply by text; passed on to the coordinators and those on the way.")
    lines = re.findall(r'class="kind">([^<]*)<', page[start:])
    positions = [lines.index(k) for k in order]
    assert positions == sorted(positions)
    assert "…0199" in page and "…0111" in page
    assert "verifiers" in page and "pending: <b>3</b>" in page  # two alerts, one relay of the reply
    for number in (REPORTER, *VERIFIERS, *RESPONDERS):
        for form in forms_of(number):
            assert form not in page, form


def test_unknown_incident_is_404(client, svc, coordinator_id):
    """An id that does not exist is a 404 for the page and for every action."""
    assert client.get("/incidents/999").status_code == 404
    assert client.post("/incidents/999/decision", data={"decision": "confirm"}).status_code == 404
    assert client.post("/incidents/999/notes", data={"body": "hello"}).status_code == 404


def test_confirm_sets_status_alerts_next_layer_and_queues_texts(client, svc, coordinator_id, members):
    """Confirm marks the incident confirmed in the thread as the coordinator, alerts the next layer and
    queues its texts after the commit."""
    incident = report(client, svc)
    alert_first_layer(svc, incident.id)
    before = queues.queue(svc, queues.URGENT).count
    response = client.post(f"/incidents/{incident.id}/decision", data={"decision": "confirm"},
                           follow_redirects=True)
    assert response.status_code == 200 and f"{incident.code} confirmed." in response.data.decode()
    assert status_of(svc, incident.id) == "confirmed"
    events = thread(svc, incident.id)
    status = next(e for e in events if e.kind == "status")
    assert status.actor == f"coordinator #{coordinator_id}" and status.detail["to"] == "confirmed"
    assert [e.detail.get("layer") for e in events if e.kind == "layer_alerted"] == [1, 2]
    assert queues.queue(svc, queues.URGENT).count > before
    assert b'value="confirm"' not in response.data and b'value="resolve"' in response.data


def test_confirm_twice_changes_nothing(client, svc, coordinator_id):
    """A second Confirm (say, from a stale page) is answered politely and adds nothing to the thread."""
    incident = report(client, svc)
    client.post(f"/incidents/{incident.id}/decision", data={"decision": "confirm"})
    count = len(thread(svc, incident.id))
    response = client.post(f"/incidents/{incident.id}/decision", data={"decision": "confirm"},
                           follow_redirects=True)
    assert b"already confirmed" in response.data and len(thread(svc, incident.id)) == count


@pytest.mark.parametrize(("decision", "status", "flash"), [
    ("false_alarm", "false_alarm", "stood down as a false alarm"),
    ("resolve", "resolved", "resolved"),
    ("drill", "drill", "closed as a drill"),
])
def test_closing_decisions_close_the_incident_and_tell_those_alerted(client, svc, coordinator_id, members,
                                                                     decision, status, flash):
    """False alarm, Resolve and Mark as drill close the incident, record it in the thread, cancel unsent
    alerts, record a stand-down text for each member alerted, and leave no actions on the page."""
    incident = report(client, svc)
    alert_first_layer(svc, incident.id)
    response = client.post(f"/incidents/{incident.id}/decision", data={"decision": decision},
                           follow_redirects=True)
    page = response.data.decode()
    assert response.status_code == 200 and flash in page
    assert status_of(svc, incident.id) == status
    event = thread(svc, incident.id)[-1]
    assert (event.kind, event.actor) == ("status", f"coordinator #{coordinator_id}")
    assert event.detail["to"] == status
    with svc.db.session() as session:
        texts = session.scalars(
            select(OutboundMessage).where(OutboundMessage.incident_id == incident.id)).all()
        assert sorted(t.status for t in texts if t.purpose == "alert") == ["cancelled", "cancelled"]
    assert "This incident is closed." in page
    assert 'name="decision"' not in page and 'name="body"' not in page


def test_closed_incident_refuses_further_decisions_and_notes(client, svc, coordinator_id):
    """POSTs to a closed incident (a stale page) change nothing and say it is closed."""
    incident = report(client, svc)
    client.post(f"/incidents/{incident.id}/decision", data={"decision": "resolve"})
    count = len(thread(svc, incident.id))
    again = client.post(f"/incidents/{incident.id}/decision", data={"decision": "false_alarm"},
                        follow_redirects=True)
    assert b"already closed" in again.data and status_of(svc, incident.id) == "resolved"
    note = client.post(f"/incidents/{incident.id}/notes", data={"body": "late"}, follow_redirects=True)
    assert b"notes can no longer be added" in note.data
    assert len(thread(svc, incident.id)) == count


def test_note_is_added_to_the_thread_encrypted(client, svc, coordinator_id):
    """A note appears on the thread as the coordinator (by id, not email), stored encrypted."""
    incident = report(client, svc)
    response = client.post(f"/incidents/{incident.id}/notes", data={"body": "Called the legal hotline."},
                           follow_redirects=True)
    page = response.data.decode()
    assert "Note added." in page and "Called the legal hotline." in page
    note = thread(svc, incident.id)[-1]
    assert (note.kind, note.actor) == ("note", f"coordinator #{coordinator_id}")
    assert b"hotline" not in note.body_token
    assert svc.cipher.decrypt(note.body_token) == "Called the legal hotline."
    thread_html = page[page.index("<h2>Thread"):]
    assert "ana@example.org" not in thread_html and f"coordinator #{coordinator_id}" in thread_html


def test_empty_note_is_refused_with_the_form_again(client, svc, coordinator_id):
    """A blank note re-renders the page with an error (400) and adds nothing."""
    incident = report(client, svc)
    count = len(thread(svc, incident.id))
    response = client.post(f"/incidents/{incident.id}/notes", data={"body": "   "})
    assert response.status_code == 400 and b"Write something first." in response.data
    assert len(thread(svc, incident.id)) == count


@pytest.mark.parametrize("data", [{}, {"decision": "explode"}])
def test_bad_decision_is_400(client, svc, coordinator_id, data):
    """A missing or unknown decision is a 400 and changes nothing."""
    incident = report(client, svc)
    assert client.post(f"/incidents/{incident.id}/decision", data=data).status_code == 400
    assert status_of(svc, incident.id) == "reported"


def test_incident_page_has_actions_while_open(client, svc, coordinator_id):
    """An open incident shows Confirm, False alarm, Resolve, Mark as drill and the note form."""
    incident = report(client, svc)
    page = client.get(f"/incidents/{incident.id}").data.decode()
    for value in ("confirm", "false_alarm", "resolve", "drill"):
        assert re.search(rf'name="decision" value="{value}"', page)
    assert 'name="body"' in page


# --- nobody to alert, and when the next layer is due ----------------------------------------------------

def test_a_report_nobody_can_be_alerted_for_is_flagged_first(client, svc, coordinator_id, members):
    """An open report whose tree is empty is marked "nobody alerted", above every other, and not "verifying"."""
    empty = report(client, svc, "COPWATCH stop at 3rd and Pine")
    alert_first_layer(svc, empty.id)
    ordinary = report(client, svc)  # newer, and its verifiers are alerted
    alert_first_layer(svc, ordinary.id)
    page = client.get("/incidents").data.decode()
    assert "nobody alerted" in page
    assert page.index("1 open report has") < page.index(f">{empty.code}</a>") < page.index(f">{ordinary.code}</a>")
    row = page[page.index(f">{empty.code}</a>"):page.index(f">{ordinary.code}</a>")]
    assert 'class="badge nobody"' in row and "Verifying" not in row and "verifying" not in row
    assert status_of(svc, empty.id) == "reported"


def test_next_layer_due_shows_only_while_a_layer_is_still_to_come(client, svc, coordinator_id, members):
    """'Next layer due' shows on the layer whose wait decides it, and never once that layer has passed or
    the incident is closed."""
    incident = report(client, svc)
    alert_first_layer(svc, incident.id)
    page = client.get(f"/incidents/{incident.id}").data.decode()
    assert len(re.findall(r">in \d+ min<", page)) == 1  # layer 1's wait, before layer 2 goes
    Phone(client, VERIFIERS[0]).reply_to(f"CONFIRM {incident.code}")  # layer 2 goes at once
    page = client.get(f"/incidents/{incident.id}").data.decode()
    layers = page[page.index("<h2>Layers</h2>"):page.index("<h2>Texts</h2>")]
    rows = layers.split('<tr class="layer')[1:]
    due_cell = rows[0].split('data-label="Next layer due"')[1]
    assert not re.match(r'[^>]*>in ', due_cell)  # layer 1 has passed: no "due in" on it
    client.post(f"/incidents/{incident.id}/decision", data={"decision": "resolve"})
    page = client.get(f"/incidents/{incident.id}").data.decode()
    layers = page[page.index("<h2>Layers</h2>"):page.index("<h2>Texts</h2>")]
    assert not re.search(r">in \d+ (s|min)<|>now<", layers)
