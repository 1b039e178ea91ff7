"""The console's duty page, the board's below-quorum line and a member's load: counts, numbers masked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rapidresponse.duty import coverage
from rapidresponse.duty import service as duty
from rapidresponse.members.models import Member
from tests.conftest import add_member
from tests.web.test_console_auth import add_coordinator, sign_in


def test_duty_page_counts_paused_and_on_duty_and_shows_load(client, svc):
    """Per layer: reachable, paused, on duty; per member: alerts, answered, on the way over 30 days."""
    add_coordinator(svc)
    busy = add_member(svc, "+12125554521", roles="responder", trees={"ice": 1})
    resting = add_member(svc, "+12125550301", roles="responder", trees={"ice": 1})
    now = datetime.now(UTC)
    with svc.db.session() as session:
        session.get(Member, resting).paused_until = now + timedelta(days=2)
        duty.note_alerted(session, [busy], now)
        duty.note_answer(session, busy, now, first=True, yes=True)
    assert sign_in(client).status_code == 302
    page = client.get("/duty").get_data(as_text=True)
    assert "<td>ice verifiers</td><td>2</td><td>1</td>" in page
    assert "…4521" in page and "+12125554521" not in page
    assert "<td>1</td><td>1</td><td>1</td>" in page
    member_page = client.get(f"/members/{busy}").get_data(as_text=True)
    assert "last 30 days: 1 alerts, 1 answered, 1 on the way" in member_page
    assert "paused until" in client.get(f"/members/{resting}").get_data(as_text=True)


def test_the_board_and_the_menu_show_a_layer_below_quorum(client, svc):
    add_coordinator(svc)
    with svc.db.session() as session:
        coverage.check(session, svc.cipher, svc.trees, datetime.now(UTC))  # every layer is empty here
    assert sign_in(client).status_code == 302
    page = client.get("/incidents").get_data(as_text=True)
    assert "ice verifiers: 0 on duty, quorum 1." in page
    assert 'Duty <b class="badge">' in page


def test_the_thread_says_who_was_paused_woken_off_duty_and_each_wave():
    """A coordinator reads the layer's alert with its paused and off-duty counts, and each later wave."""
    from rapidresponse.console.threads import describe

    names = {1: "verifiers"}
    assert describe("layer_alerted", {"layer": 1, "recipients": 2, "paused": 2, "off_duty": 1, "wave": 1}, names) == (
        "Layer 1 (verifiers) alerted: 2 people in the first wave; 2 paused, not alerted; "
        "1 off duty, alerted to reach the quorum.")
    assert describe("wave_alerted", {"layer": 1, "recipients": 2, "wave": 2}, names) == (
        "Layer 1 (verifiers): wave 2 alerted: 2 people (quorum not reached yet).")
