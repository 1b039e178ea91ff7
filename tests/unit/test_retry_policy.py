"""When a refused text is tried again: backoff with jitter and a cap, Retry-After honoured, and
never past the alert's validity. Pure: no sleeping, a fixed clock and a seeded random source."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from random import Random

import pytest

from rapidresponse.messaging.retry import CAP_SECONDS, MAX_ATTEMPTS_WITHOUT_DEADLINE, next_attempt

NOW = datetime(2025, 3, 4, 9, 30, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)


def wait(attempt: int, *, seed: int = 1, retry_after: str | None = None,
         valid_until: datetime | None = LATER) -> float | None:
    at = next_attempt(attempt, NOW, valid_until=valid_until, retry_after=retry_after, rng=Random(seed))
    return None if at is None else (at - NOW).total_seconds()


def test_waits_grow_exponentially_up_to_the_cap():
    """Each refusal doubles the longest wait (2, 4, 8 ... s) until it reaches the cap."""
    for attempt, ceiling in [(1, 2), (2, 4), (3, 8), (4, 16), (5, 32), (6, 60), (12, 60)]:
        waits = [wait(attempt, seed=seed) for seed in range(50)]
        assert all(w is not None and ceiling / 2 <= w <= ceiling for w in waits), (attempt, waits)
    assert max(wait(30, seed=s) or 0 for s in range(50)) <= CAP_SECONDS


def test_jitter_spreads_a_storm_of_refusals():
    """Texts refused at the same moment come back at different moments, not all at once."""
    waits = {wait(4, seed=seed) for seed in range(20)}
    assert len(waits) == 20


@pytest.mark.parametrize(("header", "at_least"), [
    ("30", 30.0),
    ("120", 120.0),
    ("Tue, 04 Mar 2025 09:31:30 GMT", 90.0),
])
def test_retry_after_is_honoured(header, at_least):
    """Twilio's Retry-After (seconds or a date) is never cut short by a shorter backoff."""
    assert wait(1, retry_after=header) == pytest.approx(at_least)


@pytest.mark.parametrize("header", ["", "soon", "-5", "Tue, 04 Mar 2025 09:00:00 GMT"])
def test_useless_retry_after_falls_back_to_the_backoff(header):
    """An empty, malformed or past Retry-After leaves the normal backoff in charge."""
    assert 1.0 <= (wait(1, retry_after=header) or 0) <= 2.0


def test_no_retry_past_the_alerts_validity():
    """A retry that would land after the alert's validity period is not scheduled: the text is given up."""
    assert wait(3, valid_until=NOW + timedelta(seconds=3)) is None
    assert wait(1, retry_after="600", valid_until=NOW + timedelta(minutes=5)) is None
    assert wait(1, valid_until=NOW + timedelta(seconds=10)) is not None


def test_text_without_validity_stops_after_a_few_attempts():
    """A reply with no deadline is tried a bounded number of times, not for ever."""
    assert wait(MAX_ATTEMPTS_WITHOUT_DEADLINE - 1, valid_until=None) is not None
    assert wait(MAX_ATTEMPTS_WITHOUT_DEADLINE, valid_until=None) is None
