"""A bilingual broadcast in a real browser, on a phone and on a desktop: pick a tree, watch the
counters, confirm, double-click Send, watch the progress bar reach 100% against the fake Twilio
with a real worker, and find exactly one text per member there."""

from __future__ import annotations

import json
import re
from pathlib import Path

from playwright.sync_api import expect
from sqlalchemy import func, select

from rapidresponse.broadcasts.models import Broadcast
from tests.e2e.harness import Stack, wait_until

SHARED = Path(__file__).resolve().parents[1] / "shared" / "segments.json"
ENGLISH = "Know your rights meeting tonight at 7, community center. Bring a neighbour."
SPANISH = "Reunión sobre sus derechos esta noche a las 7 en el centro comunitario. Traiga a un vecino."


def seed_tree(stack: Stack) -> tuple[list[str], list[str]]:
    """Eight people in the ice tree (three Spanish speakers), four members outside it."""
    tree = [f"+1212557{n:04d}" for n in range(8)]
    others = [f"+1212558{n:04d}" for n in range(4)]
    for n, phone in enumerate(tree):
        stack.member(phone, roles="responder", trees={"ice": 1 + n % 3}, language="es" if n % 3 == 0 else "en")
    for phone in others:
        stack.member(phone)
    return tree, others


def page_fits(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_the_segment_counter_in_the_browser_matches_the_shared_table(signed_in):
    """Chromium runs static/segments.js over tests/shared/segments.json: every row agrees."""
    signed_in.goto("/broadcasts/new")
    cases = json.loads(SHARED.read_text(encoding="utf-8"))["cases"]
    failures = signed_in.evaluate("""cases => cases.filter(c => {
        const text = c.parts.map(([s, n]) => s.repeat(n)).join('');
        return RRSegments.encoding(text) !== c.encoding || RRSegments.segments(text) !== c.segments;
      }).map(c => c.note)""", cases)
    assert failures == []


def test_compose_confirm_double_click_send_and_watch_it_reach_everyone(signed_in, stack, screenshot):
    """Ticking the ice tree counts its members by language; typing shows characters, encoding and
    segments; the confirmation shows both texts; a double click on Send makes one broadcast; the
    progress bar reaches 100% on its own, and each member of the tree got exactly one text."""
    page = signed_in
    tree, others = seed_tree(stack)
    page.goto("/broadcasts/new")
    count = page.locator("#audience-count")
    assert count.inner_text() == "12 members: 9 en, 3 es"
    page.get_by_label("ice: whole tree").check()
    expect(count).to_have_text("8 members: 5 en, 3 es")  # the live count, from audience.json

    page.locator('textarea[name="text_en"]').fill(ENGLISH)
    assert page.locator("#meter-es").inner_text().startswith("empty: gets the English text")
    assert page.locator("#meter-en").inner_text() == f"{len(ENGLISH)} characters · GSM-7 · 1 segment"
    page.locator('textarea[name="text_es"]').fill(SPANISH)
    assert page.locator("#meter-es").inner_text() == f"{len(SPANISH)} characters · UCS-2 · 2 segments"
    assert page.locator("#total-segments").inner_text() == "Total: 11 segments to send"  # 5 x 1 + 3 x 2
    page.get_by_label("Drill: mark every text").check()
    assert "(with the drill marker)" in page.locator("#meter-en").inner_text()
    page.get_by_label("Drill: mark every text").uncheck()
    assert page_fits(page)
    screenshot(page, "broadcast-form", docs=True)

    page.get_by_role("button", name="Preview and confirm").click()
    page.wait_for_url("**/broadcasts/preview")
    assert page.get_by_text("8 members: 5 en, 3 es").is_visible()
    assert page.get_by_text(SPANISH).is_visible() and page.get_by_text(ENGLISH).is_visible()
    assert page.get_by_text("11 in all", exact=False).is_visible()
    assert page_fits(page)
    screenshot(page, "broadcast-confirm")

    page.get_by_role("button", name=re.compile(r"^Send to 8 members")).dblclick()
    page.wait_for_url(re.compile(r".*/broadcasts/\d+$"))
    expect(page.locator("#b-percent")).to_have_text("100%", timeout=60_000)  # polled, no reload
    expect(page.locator("#c-sent")).to_have_text("8")
    assert page_fits(page)
    with stack.svc.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Broadcast)) == 1
    wait_until(lambda: sum(len(stack.received(p)) for p in tree) >= 8)
    for n, phone in enumerate(tree):
        assert stack.received(phone) == [SPANISH if n % 3 == 0 else ENGLISH]
    assert all(stack.received(p) == [] for p in others)
    # Delivery reports arrive after the sends; the page keeps counting them for a little while.
    expect(page.locator("#c-delivered")).to_have_text("8", timeout=30_000)
    screenshot(page, "broadcast-progress", docs=True)
