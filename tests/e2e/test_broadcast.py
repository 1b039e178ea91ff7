"""Broadcasts with real workers and the fake Twilio: one text per member, a cancel that stops what
was not handed over, and a raid alert that goes out first in the middle of a broadcast."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from rapidresponse.broadcasts import service as broadcasts
from tests.e2e.harness import Stack, wait_until
from tests.web.test_console_auth import add_coordinator, sign_in

VERIFIER = "+12125550151"
REPORTER = "+12125550150"


def numbers(count: int) -> list[str]:
    return [f"+1212556{n:04d}" for n in range(count)]


def seed(stack: Stack, count: int) -> list[str]:
    phones = numbers(count)
    for n, phone in enumerate(phones):
        stack.member(phone, language="es" if n % 4 == 0 else "en")
    add_coordinator(stack.svc)
    sign_in(stack.client)
    return phones


def send(stack: Stack, key: str = "e" * 32, **fields: str) -> int:
    data = {"key": key, "text_en": "Meeting tonight at 7, community center.", "text_es": "Reunión esta noche a las 7."}
    data.update(fields)
    response = stack.client.post("/broadcasts", data=data)
    assert response.status_code == 303, response.data
    return int(response.headers["Location"].rsplit("/", 1)[1])


def progress(stack: Stack, broadcast_id: int) -> broadcasts.Progress:
    with stack.svc.db.session() as session:
        return broadcasts.progress(session, [broadcast_id])[broadcast_id]


def broadcast_texts(stack: Stack, phones: list[str]) -> Counter[str]:
    wanted = set(phones)
    return Counter(m["to"] for m in stack.fake.messages if m["to"] in wanted)


@pytest.fixture
def stack(tmp_path: Path):
    s = Stack(tmp_path, SEND_RATE_SEGMENTS_PER_SECOND="20")
    s.app.config["WTF_CSRF_ENABLED"] = False  # the console's forms are posted directly here
    try:
        yield s
    finally:
        s.close()


def test_every_member_gets_exactly_one_text_in_their_language(stack: Stack):
    """A 120-member broadcast sent twice from one form (double click), with two workers: each
    member gets one text, in their language, and the page reaches 100% with every one delivered."""
    phones = seed(stack, 120)
    stack.start_worker()
    stack.start_worker()
    broadcast_id = send(stack)
    assert send(stack) == broadcast_id  # the second press finds the first
    wait_until(lambda: progress(stack, broadcast_id).done, timeout=120)
    assert broadcast_texts(stack, phones) == Counter({p: 1 for p in phones})
    assert stack.received(phones[0]) == ["Reunión esta noche a las 7."]
    assert stack.received(phones[1]) == ["Meeting tonight at 7, community center."]
    wait_until(lambda: progress(stack, broadcast_id).delivered == 120)
    shown = stack.client.get(f"/broadcasts/{broadcast_id}/progress.json").get_json()
    assert (shown["percent"], shown["sent"], shown["delivered"], shown["status"]) == (100, 120, 120, "done")


def test_cancel_mid_broadcast_sends_nothing_more_and_says_how_many_went(stack: Stack):
    """Cancelled while sending at 20 segments/s: nothing not yet handed over ever goes out, and the
    page's count of sent texts is what the provider received."""
    phones = seed(stack, 200)
    stack.start_worker()
    broadcast_id = send(stack)
    wait_until(lambda: sum(broadcast_texts(stack, phones).values()) >= 10)
    page = stack.client.post(f"/broadcasts/{broadcast_id}/cancel", follow_redirects=True).data.decode()
    assert "Broadcast cancelled:" in page
    time.sleep(float(stack.env["SEND_LEASE_SECONDS"]) * 2)  # any claim still held has had its chance
    after = progress(stack, broadcast_id)
    received = broadcast_texts(stack, phones)
    assert after.waiting == 0 and after.status == "cancelled"
    assert sum(received.values()) == after.sent < 200
    assert max(received.values()) == 1
    assert after.sent + after.cancelled == 200
    time.sleep(1.0)
    assert sum(broadcast_texts(stack, phones).values()) == after.sent  # and nothing more, later


def test_a_raid_alert_goes_out_first_during_a_broadcast_which_then_finishes(stack: Stack):
    """Mid-broadcast, a report alerts its verifier before the broadcast's remaining texts, sharing
    the same rate limit; the broadcast then resumes and reaches everyone."""
    phones = seed(stack, 150)
    stack.member(VERIFIER, roles="responder", trees={"ice": 1})
    stack.start_worker()
    broadcast_id = send(stack, places="")  # everyone, the verifier too
    wait_until(lambda: sum(broadcast_texts(stack, phones).values()) >= 10)
    stack.text(REPORTER, "ICE at 5th and Main, 2 vans")
    wait_until(lambda: any("5th and Main" in body for body in stack.received(VERIFIER)))
    alert_at = next(m["received_at"] for m in stack.fake.messages
                    if m["to"] == VERIFIER and "5th and Main" in m["body"])
    before_alert = sum(1 for m in stack.fake.messages if m["to"] in set(phones) and m["received_at"] < alert_at)
    assert before_alert < 150  # the alert did not wait for the broadcast
    wait_until(lambda: progress(stack, broadcast_id).done, timeout=120)
    assert broadcast_texts(stack, phones) == Counter({p: 1 for p in phones})
