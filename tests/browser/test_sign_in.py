"""Signing in to the console in a real browser, on a phone and on a desktop."""

from __future__ import annotations

from tests.browser.conftest import sign_in
from tests.web.test_console_auth import EMAIL


def page_fits(page) -> bool:
    """Nothing sticks out sideways: the page never needs a horizontal scroll to be read."""
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_sign_in_reaches_the_incident_board(page, coordinator, screenshot):
    """A coordinator signs in with the form and lands on the incidents page, which fits the screen."""
    sign_in(page)
    assert page.get_by_role("heading", name="Open incidents").is_visible()
    assert page.get_by_text(EMAIL).is_visible()
    assert page_fits(page)
    screenshot(page, "signed-in")


def test_wrong_password_says_so_and_stays_signed_out(page, coordinator):
    """A wrong password shows a clear message on the sign-in form; the board stays out of reach."""
    page.goto("/login")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").inner_text() == "Wrong email or password."
    page.goto("/incidents")
    assert "/login" in page.url
