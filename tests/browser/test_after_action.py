"""Drills and after-action pages in a real browser, on a phone and a desktop.

One test starts a drill from the console's Drills page against the whole stack (a real worker, the
fake Twilio), answers it by text, ends it, and reads its after-action page. The other lays out
two drills a week apart through the same service functions with a clock of its own (a drill takes
minutes, a test seconds) and takes the README's picture of the second one's page."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import select, update

from rapidresponse.db import utcnow
from rapidresponse.debriefs import service as debriefs
from rapidresponse.drills import service as drills
from rapidresponse.escalation import service as escalation
from rapidresponse.incidents import responses
from rapidresponse.incidents.models import Incident
from rapidresponse.incidents.states import IncidentStatus
from rapidresponse.members import registry
from rapidresponse.messaging.models import DeliveryStatus, OutboundMessage
from tests.browser.conftest import sign_in
from tests.e2e.harness import Stack, wait_until
from tests.web.test_console_auth import add_coordinator

VERIFIERS = ["+12125554101", "+12125554102"]
RESPONDERS = [f"+1212555420{n}" for n in range(6)]
COORDINATOR = "+12125554300"


def seed_members(stack: Stack) -> None:
    stack.member(COORDINATOR, roles="coordinator")
    for n, phone in enumerate(VERIFIERS):
        stack.member(phone, roles="responder", trees={"ice": 1}, zone="eastside", language="es" if n else "en")
    for n, phone in enumerate(RESPONDERS):
        stack.member(phone, roles="responder", trees={"ice": 2}, language="es" if n % 3 == 0 else "en")


def page_fits(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_start_a_drill_from_the_console_and_read_its_after_action_page(signed_in, stack):
    """Drills page → Start the drill; the verifier's YES and CONFIRM and three YES cover it; End the drill;
    the after-action page counts what happened and draws it."""
    page = signed_in
    seed_members(stack)
    page.get_by_role("link", name="Drills").click()
    page.get_by_label("Tree").select_option("ice")
    page.get_by_label("Zone (optional)").fill("eastside")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Start the drill").click()
    expect(page.locator("h1 .badge.drill")).to_be_visible()
    with stack.svc.db.session() as session:
        code = session.scalars(select(Incident.code)).one()
    wait_until(lambda: stack.received(VERIFIERS[0]))
    assert stack.received(VERIFIERS[0])[0].startswith(f"DRILL [{code}]")
    stack.text(VERIFIERS[0], "YES")
    stack.text(VERIFIERS[0], f"CONFIRM {code}")
    wait_until(lambda: all(stack.received(p) for p in RESPONDERS))
    for phone in RESPONDERS[:3]:
        stack.text(phone, "YES")
    page.reload()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="End the drill").click()
    expect(page.locator("h1 .badge.s-drill")).to_be_visible()
    page.get_by_role("link", name="After-action figures").click()
    expect(page.locator("figure.chart svg")).to_be_visible()
    tiles = page.locator("ul.tiles")
    expect(tiles).to_contain_text("alerted8")
    expect(tiles).to_contain_text("on the way4")
    assert page_fits(page)
    wait_until(lambda: any("Drill closed after" in t for t in stack.received(COORDINATOR)))


@pytest.fixture
def quiet_stack(tmp_path: Path) -> Iterator[Stack]:
    """The web app and the fake Twilio, no worker: nothing moves but what the test lays out."""
    s = Stack(tmp_path, wait=180, verify_wait=120)
    try:
        yield s
    finally:
        s.close()


def _member(session, stack: Stack, phone: str):
    found = registry.find_by_phone(session, stack.svc.cipher, phone)
    assert found is not None
    return found


def _provider_reports(stack: Stack, incident_id: int, layer: int, sent: datetime,
                      delays: list[int | None]) -> None:
    """What the provider would report for each alert of a layer: sent, then delivered `delay` s later
    (None: undelivered)."""
    with stack.svc.db.session() as session:
        ids = list(session.scalars(select(OutboundMessage.id).where(
            OutboundMessage.incident_id == incident_id, OutboundMessage.layer == layer).order_by(OutboundMessage.id)))
        for message_id, delay in zip(ids, delays, strict=False):
            session.execute(update(OutboundMessage).where(OutboundMessage.id == message_id).values(
                status=DeliveryStatus.DELIVERED.value if delay is not None else DeliveryStatus.UNDELIVERED.value,
                sent_at=sent, status_at=sent + timedelta(seconds=delay if delay is not None else 40)))


def lay_out_drill(stack: Stack, start: datetime, *, verifier_yes: int | None, confirm: int | None,
                  yes: list[tuple[int, int, bool]], close: int) -> int:
    """A drill through the real services on a clock of its own: `yes` is (responder, seconds, yes?)."""
    svc = stack.svc
    at = lambda seconds: start + timedelta(seconds=seconds)  # noqa: E731
    with svc.db.session() as session:
        started = drills.start(svc, session, svc.trees.get("ice"), start, actor="coordinator #1", zone="eastside")
        incident_id = started.incident.id
        escalation.evaluate(svc, session, incident_id, at(0))
    _provider_reports(stack, incident_id, 1, at(3), [6, 9])
    if verifier_yes is not None:
        with svc.db.session() as session:
            incident = session.get(Incident, incident_id)
            responses.answer(svc, session, _member(session, stack, VERIFIERS[0]), incident, True, at(verifier_yes))
    with svc.db.session() as session:
        incident = session.get(Incident, incident_id)
        if confirm is not None:
            responses.confirm(svc, session, _member(session, stack, VERIFIERS[0]), incident, at(confirm))
            layer_two = confirm
        else:  # nobody checked: layer 2 goes unverified when the verifiers' wait runs out
            layer_two = 120
            escalation.evaluate(svc, session, incident_id, at(layer_two))
    _provider_reports(stack, incident_id, 2, at(layer_two + 2), [5, 7, 8, 11, None, 14])
    for responder, seconds, said_yes in sorted(yes, key=lambda y: y[1]):
        with svc.db.session() as session:
            incident = session.get(Incident, incident_id)
            responses.answer(svc, session, _member(session, stack, RESPONDERS[responder]), incident, said_yes,
                             at(seconds))
    with svc.db.session() as session:
        incident = session.get(Incident, incident_id)
        responses.close_incident(svc, session, incident, IncidentStatus.DRILL, at(close), actor="coordinator #1")
    return incident_id


def test_after_action_page_of_a_drill_compared_with_the_last_one(browser, viewport, quiet_stack, screenshot):
    """The second of two drills: figures against the first, the chart, who was never reached (masked), the
    escalated layer of the first, and the debriefs a day later; the README's picture."""
    stack = quiet_stack
    seed_members(stack)
    add_coordinator(stack.svc)
    now = utcnow().replace(microsecond=0)
    lay_out_drill(stack, now - timedelta(days=9), verifier_yes=None, confirm=None,
                  yes=[(3, 250, False), (0, 265, True), (1, 298, True)], close=1500)
    second = lay_out_drill(stack, now - timedelta(days=2), verifier_yes=70, confirm=110,
                           yes=[(0, 200, True), (1, 215, False), (2, 250, True), (3, 300, True), (5, 420, True)],
                           close=900)
    with stack.svc.db.session() as session:
        closed_at = session.get(Incident, second).closed_at
        debriefs.send_due(session, stack.svc.cipher, closed_at + timedelta(hours=24))
    for phone, answer in ((RESPONDERS[0], "1"), (RESPONDERS[2], "2"),
                          (RESPONDERS[3], "Fine. The CONFIRM step took me a while to find.")):
        stack.text(phone, answer)

    context = browser.new_context(base_url=stack.url, **viewport.context_options())
    try:
        page = context.new_page()
        sign_in(page)
        page.goto(f"/incidents/{second}/after-action")
        expect(page.locator("figure.chart svg polyline")).to_have_count(2)
        tiles = page.locator("ul.tiles")
        expect(tiles).to_contain_text("first YES1 min 10 s")  # the verifier's, on the way to check
        expect(tiles).to_contain_text("last drill 4 min 25 s")
        expect(tiles).to_contain_text("quorum4 min 10 s")
        expect(page.locator("ul.masked")).to_contain_text("…" + RESPONDERS[4][-4:])
        assert RESPONDERS[4] not in page.content()
        expect(page.locator("p.alert.nobody")).to_contain_text(f"…{RESPONDERS[2][-4:]} needs support")
        assert page_fits(page)
        screenshot(page, "after-action", docs=True)
    finally:
        context.close()
