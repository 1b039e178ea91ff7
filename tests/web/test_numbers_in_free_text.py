"""Numbers people type into texts (a third party's, their own) are masked in every relay to
responders, and on the incident page until a coordinator clicks to reveal them."""

from __future__ import annotations

import re

from sqlalchemy import select

from rapidresponse.incidents.models import ThreadEvent
from rapidresponse.messaging.models import OutboundMessage, Purpose
from tests.conftest import Phone, add_member
from tests.web.test_console_auth import add_coordinator, sign_in
from tests.web.test_console_incidents import alert_first_layer, forms_of, report

THIRD_PARTY = "+12125550187"
VERIFIER = "+12125550111"
REPORTER = "+12125550199"


def bodies(svc, purpose: Purpose) -> list[str]:
    with svc.db.session() as session:
        rows = session.scalars(select(OutboundMessage).where(OutboundMessage.purpose == purpose.value)).all()
        return [svc.cipher.decrypt(r.body_token) for r in rows]


def setup_incident(client, svc, text: str):
    add_member(svc, VERIFIER, roles="responder", trees={"ice": 1})
    add_member(svc, "+12125550150", roles="coordinator")
    incident = report(client, svc, text, REPORTER)
    alert_first_layer(svc, incident.id)
    return incident


def test_a_number_in_a_report_is_masked_in_the_alert(client, svc):
    """The alert responders get shows a number typed into the report as its last four digits only."""
    setup_incident(client, svc, "ICE at 5th and Main, call my cousin 212-555-0187")
    [alert] = bodies(svc, Purpose.ALERT)
    assert "…0187" in alert or "...0187" in alert
    for form in forms_of(THIRD_PARTY):
        assert form not in alert, form


def test_a_number_in_a_reply_is_masked_in_every_relay(client, svc):
    """A free-text reply relayed to coordinators and responders on the way carries no full number."""
    setup_incident(client, svc, "ICE at 5th and Main")
    Phone(client, VERIFIER).reply_to("YES")
    Phone(client, REPORTER).reply_to("my brother is there, his number is (212) 555-0187, mine +1 212 555 0199")
    relays = bodies(svc, Purpose.RELAY)
    assert len(relays) == 2  # the coordinator and the verifier on the way
    for body in relays:
        assert "0187" in body
        for form in forms_of(THIRD_PARTY) + forms_of(REPORTER) + ["555-0187", "212 555 0199"]:
            assert form not in body, (form, body)


def event_id(svc, incident_id: int, kind: str) -> int:
    with svc.db.session() as session:
        return session.scalars(select(ThreadEvent.id).where(ThreadEvent.incident_id == incident_id,
                                                            ThreadEvent.kind == kind)).one()


def test_incident_page_masks_numbers_until_a_coordinator_reveals_them(client, svc):
    """Report and replies show masked numbers with a Show numbers button; pressing it shows that one text."""
    incident = setup_incident(client, svc, "ICE at 5th and Main, call 212-555-0187")
    Phone(client, REPORTER).reply_to("also try 646 555 0123")
    add_coordinator(svc)
    assert sign_in(client).status_code == 302
    page = client.get(f"/incidents/{incident.id}").data.decode()
    assert "212-555-0187" not in page and "646 555 0123" not in page and "…0187" in page and "…0123" in page
    items = set(re.findall(r'name="item" value="([^"]+)"', page))
    assert items == {"report", str(event_id(svc, incident.id, "report")), str(event_id(svc, incident.id, "reply"))}
    shown = client.post(f"/incidents/{incident.id}/reveal", data={"item": "report"})
    assert shown.status_code == 200 and shown.headers["Cache-Control"] == "no-store"
    assert "212-555-0187" in shown.data.decode() and "646 555 0123" not in shown.data.decode()
    reply = event_id(svc, incident.id, "reply")
    shown = client.post(f"/incidents/{incident.id}/reveal", data={"item": str(reply)}).data.decode()
    assert "646 555 0123" in shown and "212-555-0187" not in shown


def test_reveal_refuses_what_is_not_there(client, svc):
    """Revealing an event of another incident, a made-up item, or signed out is refused."""
    first = setup_incident(client, svc, "ICE at 5th and Main, call 212-555-0187")
    other = report(client, svc, "ICE Broadway, call 646 555 0123", "+12125550198")
    add_coordinator(svc)
    assert sign_in(client).status_code == 302
    foreign = event_id(svc, other.id, "report")
    assert client.post(f"/incidents/{first.id}/reveal", data={"item": str(foreign)}).status_code == 404
    for item in ("99999999999999999999", "x", "-1"):
        assert client.post(f"/incidents/{first.id}/reveal", data={"item": item}).status_code in (400, 404)
    assert client.post(f"/incidents/{first.id}/reveal", data={}).status_code == 400
    assert client.post("/incidents/99999999999/reveal", data={"item": "report"}).status_code == 404
    client.post("/logout")
    assert client.post(f"/incidents/{first.id}/reveal", data={"item": "report"}).status_code == 302


def test_a_text_without_numbers_has_nothing_to_reveal(client, svc):
    """No button where nothing is masked."""
    incident = setup_incident(client, svc, "ICE at 5th and Main, 2 vans")
    add_coordinator(svc)
    assert sign_in(client).status_code == 302
    assert 'name="item"' not in client.get(f"/incidents/{incident.id}").data.decode()
