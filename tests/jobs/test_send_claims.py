"""A text claimed by a live worker and waiting its turn at the shared rate limit is never sent
twice: its lease is renewed while it waits, the worker checks it still owns the claim right
before calling Twilio, and a worker claims only what the limit lets it send within the lease."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
from sqlalchemy import update

from rapidresponse.messaging.models import DeliveryStatus, OutboundMessage
from rapidresponse.messaging.ratelimit import RateLimiter
from rapidresponse.messaging.sender import Outcome, Sender
from rapidresponse.settings import Settings
from tests import conftest
from tests.jobs.test_sender import NOW, OTHER, RESPONDER, intent, lists, message, posts, provider_has

LEASE = timedelta(seconds=120)


class Clock:
    """A clock the test moves by hand, shared by every worker in it."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


class HeldGate:
    """A rate limit that keeps every send waiting until the test lets it through."""

    def __init__(self) -> None:
        self.waiting = threading.Semaphore(0)
        self.open = threading.Event()

    def acquire(self, cost: int = 1, *, bulk: bool = False, ready=None) -> None:
        self.waiting.release()
        assert self.open.wait(10), "the test never let the send through"
        if ready is not None:
            ready()

    def backlog(self) -> float:
        return 0.0


def start_waiting(sender: Sender, ids: list[int]) -> tuple[threading.Thread, list[Outcome], HeldGate]:
    """`sender` claims `ids` and its sends wait at the rate limit until the gate opens."""
    gate = HeldGate()
    sender.limiter = gate  # type: ignore[assignment]
    outcomes: list[Outcome] = []
    thread = threading.Thread(target=lambda: outcomes.append(sender.send(ids)))
    thread.start()
    for _ in ids:
        assert gate.waiting.acquire(timeout=10), "the send never reached the rate limit"
    return thread, outcomes, gate


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def workers(svc, clock):
    """Two workers' senders on one database, one clock."""
    made = [Sender(svc, clock=clock) for _ in range(2)]
    yield made
    for sender in made:
        sender.close()


def test_claim_taken_over_while_waiting_is_not_sent_by_its_first_worker(svc, twilio_api, clock, workers):
    """If a waiting claim is taken over (its lease ran out), only the new owner texts the member."""
    first, second = workers
    message_id = intent(svc, RESPONDER)
    thread, outcomes, gate = start_waiting(first, [message_id])
    # The first worker's renewals stalled; the lease ran out; a second worker reclaims the text,
    # finds nothing at Twilio (the first never sent it) and sends it.
    clock.at = NOW + LEASE + timedelta(seconds=1)
    provider_has(twilio_api)
    taken = second.send([message_id])
    assert taken.sent == 1 and lists(twilio_api) == 1
    gate.open.set()
    thread.join(10)
    [late] = outcomes
    assert (late.sent, late.taken_over) == (0, 1)
    assert [form["To"] for form in posts(twilio_api)] == [RESPONDER]
    sent = message(svc, message_id)
    assert sent.status == DeliveryStatus.QUEUED.value and sent.attempts == 2


def test_waiting_claim_whose_lease_is_renewed_is_left_to_its_worker(svc, twilio_api, clock, workers):
    """A claim renewed while it waits is not taken over by another worker, and is sent once, by its own."""
    first, second = workers
    ids = [intent(svc, RESPONDER), intent(svc, OTHER)]
    thread, outcomes, gate = start_waiting(first, ids)
    clock.at = NOW + LEASE * 3 / 4
    assert first.renew_leases() == 2
    clock.at = NOW + LEASE + LEASE / 2  # past the first claim's lease, well within the renewal's
    left = second.send(ids)
    assert (left.sent, left.reconciled, left.taken_over) == (0, 0, 0)
    assert len(twilio_api.calls) == 0
    gate.open.set()
    thread.join(10)
    assert outcomes[0].sent == 2
    assert sorted(form["To"] for form in posts(twilio_api)) == sorted([RESPONDER, OTHER])


def test_claim_checked_at_the_last_moment_keeps_its_lease(svc, twilio_api, clock, workers):
    """The check just before sending renews the claim: a worker arriving right after leaves it alone."""
    first, second = workers
    message_id = intent(svc, RESPONDER)
    thread, outcomes, gate = start_waiting(first, [message_id])
    clock.at = NOW + LEASE - timedelta(seconds=2)  # too close to the end to send without checking
    gate.open.set()
    thread.join(10)
    assert outcomes[0].sent == 1
    assert message(svc, message_id).claimed_at == clock.at
    clock.at += timedelta(seconds=5)
    assert second.send([message_id]).sent == 0
    assert len(posts(twilio_api)) == 1


def test_lost_claim_is_not_recorded_over_the_new_owners_record(svc, twilio_api, clock, workers):
    """A worker whose claim was taken records nothing, so the new owner's record stands."""
    first, _ = workers
    message_id = intent(svc, RESPONDER)
    thread, outcomes, gate = start_waiting(first, [message_id])
    with svc.db.session() as session:  # someone else claimed and sent it meanwhile
        session.execute(update(OutboundMessage).where(OutboundMessage.id == message_id).values(
            attempts=OutboundMessage.attempts + 1, status=DeliveryStatus.QUEUED.value, provider_sid="SMtheirs"))
    clock.at = NOW + LEASE
    gate.open.set()
    thread.join(10)
    assert outcomes[0].taken_over == 1
    assert message(svc, message_id).provider_sid == "SMtheirs"
    assert posts(twilio_api) == []


@pytest.fixture
def limited(tmp_path, database_url):
    """Services with a send limit of 10 segments a second and a 12-second lease."""
    settings_env = conftest.test_env(tmp_path, database_url, SEND_RATE_SEGMENTS_PER_SECOND="10",
                                     SEND_LEASE_SECONDS="12", SEND_TIMEOUT_SECONDS="2")
    with conftest.fresh_services(Settings.from_env(settings_env)) as services:
        yield services


def test_worker_claims_only_what_the_shared_limit_can_send_within_the_lease(limited):
    """When other workers have already reserved most of a lease's sending, a worker claims just the rest."""
    sender = Sender(limited, clock=lambda: NOW)
    try:
        assert sender._claim_size() == sender.chunk == 30  # 10/s x 12 s / 4
        other = RateLimiter(limited.redis, limited.settings.sender_id, 10, prefix=limited.settings.queue_prefix)
        other.reserve(50)  # 5 s of sends reserved
        assert 5 <= sender._claim_size() <= 10  # ~1 s left of the half-lease, at 10 a second
        other.reserve(100)  # 15 s more: past the lease
        assert sender._claim_size() == 1
    finally:
        sender.close()
