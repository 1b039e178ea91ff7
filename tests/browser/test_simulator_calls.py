"""The simulator's phone in a real browser, on a phone and on a desktop, with a real worker: call the
hotline, press 9 for Spanish, choose eviction, say the report into the text box and hear the code
read back; then, as a defender on voice, take the alert call that report rang and press 1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from rapidresponse.incidents.models import Incident
from rapidresponse.members.models import Member
from tests.browser.test_sign_in import page_fits
from tests.e2e.harness import Stack, wait_until

CALLER = "+12125550460"
DEFENDER = "+12125550461"
REPORT = "Desalojo en la calle 5 y Main, el alguacil está en la puerta"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """The whole system with no Twilio credentials, so the built-in simulator is the provider and
    /simulator is the phone; one real worker places the alert calls."""
    s = Stack(tmp_path, wait=600, verify_wait=600,
              TWILIO_ACCOUNT_SID="", TWILIO_AUTH_TOKEN="", TWILIO_API_BASE_URL="")
    assert s.settings.provider_name == "simulator"
    s.start_worker()
    try:
        yield s
    finally:
        s.close()


def heard(page) -> list[str]:
    return page.locator("ol.heard li").all_inner_texts()


def on_voice(stack: Stack, phone: str) -> None:
    member_id = stack.member(phone, roles="responder", trees={"eviction": 1})
    with stack.svc.db.session() as session:
        found = session.get(Member, member_id)
        assert found is not None
        found.channel = "voice"


def open_incident(stack: Stack) -> Incident | None:
    with stack.svc.db.session() as session:
        found = session.scalars(select(Incident)).first()
        if found is not None:
            session.expunge(found)
        return found


def test_call_the_hotline_in_spanish_then_answer_the_alert_call_with_1(page, stack, screenshot):
    """The hotline greets in English offering Spanish on 9; after 9 the menu and prompt are Spanish;
    2 chooses eviction; the typed words stand in for the recording; the code is read back letter by
    letter, twice. The report rings the eviction defender (on voice): answering shows the spoken
    alert, and pressing 1 reads back "on the way" with the layer's count (quorum 2)."""
    on_voice(stack, DEFENDER)
    page.goto(f"/simulator?phone={CALLER}")
    page.get_by_role("button", name="☎ Call the hotline").click()
    expect(page.get_by_text("☎ Calling the hotline")).to_be_visible()
    assert any("Para español, oprima 9." in line for line in heard(page))
    assert page_fits(page)
    screenshot(page, "simulator-hotline-greeting")

    keypad = page.get_by_role("group", name="Keypad")
    keypad.get_by_role("button", name="9", exact=True).click()
    expect(page.locator("ol.heard li").last).to_have_text("For English, press 9.")  # the menu, in Spanish
    assert any("Línea de Respuesta Rápida." in line for line in heard(page))
    assert any("Para Desalojo, oprima 2." in line for line in heard(page))
    page.get_by_role("group", name="Keypad").get_by_role("button", name="2", exact=True).click()
    expect(page.get_by_label("Say (stands in for the recording)")).to_be_visible()
    assert any("Después del tono" in line for line in heard(page))
    page.get_by_label("Say (stands in for the recording)").fill(REPORT)
    assert page_fits(page)
    screenshot(page, "simulator-hotline-recording", docs=True)
    page.get_by_role("button", name="Finish with #").click()

    expect(page.get_by_text("Last call (completed)")).to_be_visible()
    found = wait_until(lambda: open_incident(stack))
    letters = ", ".join(found.code)
    readback = heard(page)[-1]
    assert readback.count(letters) == 2 and "Su código de referencia es" in readback
    assert page_fits(page)
    screenshot(page, "simulator-hotline-code")

    # The defender's phone: the alert call rings there in the worker's time (the page looks
    # every two seconds and reloads itself when a call arrives).
    page.goto(f"/simulator?phone={DEFENDER}")
    expect(page.get_by_text("☎ Incoming call")).to_be_visible(timeout=60_000)
    assert page_fits(page)
    screenshot(page, "simulator-alert-ringing")
    page.get_by_role("button", name="Answer", exact=True).click()
    expect(page.get_by_text("☎ On a call")).to_be_visible()
    assert any(f"Rapid Response alert {letters}." in line and "Press 1" in line for line in heard(page))
    page.get_by_role("group", name="Keypad").get_by_role("button", name="1", exact=True).click()
    expect(page.get_by_text("Last call (completed)")).to_be_visible()
    assert any(f"Got it: 1 of 2 on the way to {letters}." in line for line in heard(page)), heard(page)
    assert page_fits(page)
    screenshot(page, "simulator-alert-answered", docs=True)
