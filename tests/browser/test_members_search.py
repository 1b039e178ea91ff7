"""Searching a member by the last four digits of their number in a real browser, phone and desktop."""

from __future__ import annotations

from rapidresponse.console.models import Coordinator
from rapidresponse.members.models import Member
from tests.browser.conftest import sign_in
from tests.browser.test_sign_in import page_fits
from tests.conftest import add_member
from tests.web.test_console_auth import PASSWORD, add_coordinator

ADMIN = "admin.rosa@example.org"
PEOPLE = {"+12125554521": "Ben Okafor", "+13105554521": "Carla Díaz", "+12125550101": "Ana Martínez"}


def test_search_a_member_by_last_four_digits(page, stack, screenshot):
    """An admin opens Members from the menu, types 4521 and finds the two members whose numbers end
    in it, shown masked (…4521) on a page that fits the screen; then opens one of them."""
    admin_id = add_coordinator(stack.svc, email=ADMIN)
    with stack.svc.db.session() as session:
        session.get(Coordinator, admin_id).is_admin = True
    for phone, name in PEOPLE.items():
        member_id = add_member(stack.svc, phone, roles="responder", trees={"ice": 1}, zone="eastside")
        with stack.svc.db.session() as session:
            session.get(Member, member_id).name_token = stack.svc.cipher.encrypt(name)
    sign_in(page, email=ADMIN, password=PASSWORD)
    assert page_fits(page)
    page.get_by_role("link", name="Members").click()
    page.wait_for_url("**/members")
    page.get_by_label("Name, or the last digits of a number").fill("4521")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url("**/members?q=4521*")
    assert page.get_by_role("status").inner_text().startswith("2 found by last digits")
    results = page.locator("ul.members li")
    assert results.count() == 2
    text = results.all_inner_texts()
    assert all("…4521" in card for card in text)
    assert any("Ben Okafor" in card for card in text) and any("Carla Díaz" in card for card in text)
    body = page.content()
    assert "5554521" not in body and "555-4521" not in body and "Ana Martínez" not in body
    assert page_fits(page)
    screenshot(page, "members-search", docs=True)
    page.get_by_role("link", name="…4521 Ben Okafor").click()
    assert page.get_by_role("heading", name="…4521 Ben Okafor").is_visible()
    assert page_fits(page)
