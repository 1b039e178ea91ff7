"""The live incident board and the incident page, in a real browser on a phone and a desktop:
figures that change without a reload, a new report announced, confirming, texting those on the way."""

from __future__ import annotations

from sqlalchemy import select

from rapidresponse.incidents.models import Incident
from rapidresponse.messaging.models import OutboundMessage
from tests.e2e.harness import Stack, wait_until

REPORTER = "+12125550160"
VERIFIERS = ["+12125550161", "+12125550162"]
RESPONDERS = ["+12125550163", "+12125550164", "+12125550165"]


def seed_tree(stack: Stack) -> None:
    for number in VERIFIERS:
        stack.member(number, roles="responder", trees={"ice": 1}, zone="centro")
    for number in RESPONDERS:
        stack.member(number, roles="responder", trees={"ice": 2}, zone="centro")


def newest_incident(stack: Stack) -> Incident:
    with stack.svc.db.session() as session:
        found = session.scalars(select(Incident).order_by(Incident.id.desc())).first()
        assert found is not None
        session.expunge(found)
        return found


def report(stack: Stack, text: str = "ICE 5th and Main, 2 vans", number: str = REPORTER) -> Incident:
    """A report texted in; returns it once its verifiers' alerts reached the fake Twilio."""
    stack.text(number, text)
    incident = newest_incident(stack)
    wait_until(lambda: all(any(f"[{incident.code}]" in body for body in stack.received(v)) for v in VERIFIERS))
    return incident


def page_fits(page) -> bool:
    """Nothing sticks out sideways: the page never needs a horizontal scroll to be read."""
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def visible_in_viewport(locator) -> bool:
    box = locator.bounding_box()
    width = locator.page.viewport_size["width"]
    return box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width


def mark_page(page) -> None:
    """Tag the loaded document: the tag is gone if the page reloads, so a test can tell it did not."""
    page.evaluate("window.__sameDocument = true")


def same_document(page) -> bool:
    return page.evaluate("window.__sameDocument === true")


def test_board_figures_update_without_reload_and_an_incident_is_confirmed_from_it(stack, signed_in, screenshot,
                                                                                  viewport):
    """The board shows the incident's on-the-way count, covered and per-layer figures (first, on a
    phone card); a verifier's YES shows up without a reload; opening it and pressing Confirm
    confirms it and alerts the next layer."""
    page = signed_in
    seed_tree(stack)
    incident = report(stack)
    page.reload()
    row = page.locator(f'tr[data-incident="{incident.id}"]')
    assert row.locator(".onway").inner_text().split() == ["0", "/", "2"]
    assert "2 alerted" in row.locator("li.l-alerted").inner_text()
    assert visible_in_viewport(row.locator(".onway")) and visible_in_viewport(row.locator(".cov"))
    assert page_fits(page)
    mark_page(page)

    stack.text(VERIFIERS[0], "YES")
    page.locator(f'tr[data-incident="{incident.id}"] li.l-alerted .yes b').filter(has_text="1").wait_for()
    assert same_document(page)

    page.get_by_role("link", name=incident.code).click()
    page.wait_for_url(f"**/incidents/{incident.id}")
    assert page_fits(page)
    page.get_by_role("button", name="Confirm").click()
    assert page.get_by_role("status").filter(has_text=f"{incident.code} confirmed.").is_visible()
    assert page.locator("h1 .badge").inner_text() == "confirmed"
    wait_until(lambda: all(stack.received(r) for r in RESPONDERS))
    assert "Marked confirmed (was verifying)." in page.locator("ol.thread").inner_text()
    layer_two = page.locator("table.layer-rows tr.layer").nth(1)
    assert "alerted" in layer_two.locator(".status").inner_text()
    assert visible_in_viewport(layer_two.locator(".onway"))
    assert page_fits(page)
    screenshot(page, "incident", docs=True, full_page=viewport.name == "desktop")


def test_a_new_report_is_announced_on_the_board_without_reload(stack, signed_in, screenshot):
    """While the board is open a new report comes in: it appears, a banner says so and the title
    counts it, with no reload; marking it seen clears both."""
    page = signed_in
    seed_tree(stack)
    assert page.title().startswith("Incidents")
    mark_page(page)
    incident = report(stack, "ICE checkpoint at the bridge")
    banner = page.get_by_role("alert").filter(has_text="New report")
    banner.wait_for()
    assert f"New report: {incident.code}, ice" in banner.inner_text()
    # The banner stays the same element across polls, so a screen reader announces it once.
    page.evaluate("document.querySelector('p.alert.new').dataset.first = 'yes'")
    polls = int(page.locator("#board").get_attribute("data-polls") or 0)
    wait_until(lambda: int(page.locator("#board").get_attribute("data-polls") or 0) > polls, timeout=30)
    assert page.locator("p.alert.new").get_attribute("data-first") == "yes"
    assert page.title().startswith("(1 new) Incidents")
    assert page.get_by_role("link", name=incident.code).is_visible()
    assert same_document(page)
    assert page_fits(page)
    screenshot(page, "board-new-report")
    page.get_by_role("link", name="Mark as seen").click()
    page.wait_for_load_state()
    assert page.get_by_role("alert").filter(has_text="New report").count() == 0
    assert page.title().startswith("Incidents")


def test_reply_box_texts_everyone_on_the_way_once(stack, signed_in):
    """A coordinator writes in the incident page's reply box: each responder on the way gets it as a
    text at the fake Twilio, once even when the button is pressed twice; those not on the way don't."""
    page = signed_in
    seed_tree(stack)
    incident = report(stack)
    stack.text(VERIFIERS[0], "YES")
    page.goto(f"/incidents/{incident.id}")
    assert "Goes to the 1 person on the way" in page.locator("form.message").inner_text()
    page.get_by_placeholder("e.g. Meet at the corner").fill("Meet at the corner of 5th, not at the door.")
    page.get_by_role("button", name="Text those on the way").dblclick()
    page.get_by_role("status").filter(has_text="on the way to").first.wait_for()
    expected = f"[{incident.code}] coordinator: Meet at the corner of 5th, not at the door."
    wait_until(lambda: expected in stack.received(VERIFIERS[0]))
    assert "Message from the console, texted to 1 person on the way." in page.locator("ol.thread").inner_text()
    with stack.svc.db.session() as session:
        team = session.scalars(select(OutboundMessage).where(OutboundMessage.dedupe_key.like("team:%"))).all()
    assert len(team) == 1
    assert expected not in stack.received(VERIFIERS[1])
    assert stack.received(VERIFIERS[0]).count(expected) == 1


def test_board_screenshot(stack, signed_in, screenshot):
    """The board as the README shows it: several incidents in different states, at both sizes."""
    page = signed_in
    seed_tree(stack)
    stack.member(REPORTER, zone="eastside")
    first = report(stack, "ICE 5th and Main, 2 vans")
    stack.text(VERIFIERS[0], "YES")
    stack.text(VERIFIERS[1], "CONFIRM " + first.code)
    wait_until(lambda: all(stack.received(r) for r in RESPONDERS))
    stack.text(RESPONDERS[0], "YES")
    stack.text(RESPONDERS[1], "NO")
    second = report(stack, "ICE van parked outside the school", "+12125550170")
    stack.text(VERIFIERS[1], "YES " + second.code)
    page.reload()
    page.locator(f'tr[data-incident="{second.id}"]').wait_for()
    assert page_fits(page)
    screenshot(page, "board", docs=True)
