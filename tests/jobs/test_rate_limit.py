"""The send rate limit, against real Redis: never more segments per second than the provider allows,
shared by every thread and worker, with alerts and replies ahead of broadcasts.

The limiter gets a fake clock and sleeper here, so each test checks the slots it hands out (exact,
whatever the machine's load), never how long anything took."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable

import pytest

from rapidresponse.messaging.ratelimit import RateLimiter

START = 1_700_000_000.0
EPSILON = 2e-6  # slots are kept in whole microseconds


class FakeClock:
    """Time moves only when someone sleeps: to when that sleeper wakes (shared by threads)."""

    def __init__(self) -> None:
        self.now = START
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def limiter_for(svc, clock) -> Callable[..., RateLimiter]:
    """RateLimiter factory sharing one sender's keys (cleared with the test's queue prefix)."""
    prefix = f"{svc.settings.queue_prefix}{uuid.uuid4().hex[:8]}:"

    def make(limit: float, *, fake_clock: bool = True) -> RateLimiter:
        if not fake_clock:
            return RateLimiter(svc.redis, "sender", limit, prefix=prefix)
        return RateLimiter(svc.redis, "sender", limit, prefix=prefix, clock=clock, sleep=clock.sleep)

    return make


def busiest_second(times: list[float]) -> int:
    """The most slots inside any one-second window."""
    times = sorted(times)
    return max(sum(1 for t in times[i:] if t - start < 1.0) for i, start in enumerate(times))


def offsets(slots: list[float | None], interval: float) -> list[float]:
    """Each slot as a number of slots after the first (1.0 = one slot later)."""
    assert all(s is not None for s in slots)
    first = slots[0]
    return [round((s - first) / interval, 4) for s in slots]  # type: ignore[operator]


def run_threads(targets: list[Callable[[], object]], timeout: float = 30) -> None:
    threads = [threading.Thread(target=target) for target in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    assert not any(t.is_alive() for t in threads)


def test_limit_holds_across_threads(limiter_for, clock):
    """60 segments from 4 threads at 20/s: never more than 20 slots in any second, none sent early."""
    limiter = limiter_for(20)
    grants: list[tuple[float, float]] = []
    lock = threading.Lock()

    def send() -> None:
        for _ in range(15):
            slot = limiter.acquire(1)
            assert slot is not None
            with lock:
                grants.append((slot, clock()))

    run_threads([send] * 4)
    slots = sorted(slot for slot, _ in grants)
    assert len(slots) == 60
    assert all(later - earlier >= limiter.interval - EPSILON for earlier, later in zip(slots, slots[1:], strict=False))
    assert busiest_second(slots) <= 20
    assert all(sent_at >= slot - EPSILON for slot, sent_at in grants)


def test_two_limiters_on_the_same_sender_share_the_limit(limiter_for):
    """Two workers sending from the same number share one budget: 10 texts take 10 consecutive slots."""
    first, second = limiter_for(100), limiter_for(100)
    slots = [limiter.acquire(1) for _ in range(5) for limiter in (first, second)]
    assert offsets(slots, first.interval) == list(range(10))


def test_a_long_text_counts_each_segment(limiter_for):
    """A two-segment text uses two slots of the budget: after ten of them, the next text waits 20 slots."""
    limiter = limiter_for(100)
    slots = [limiter.acquire(2) for _ in range(10)] + [limiter.acquire(1)]
    assert offsets(slots, limiter.interval) == [2 * k for k in range(11)]


def test_single_segments_are_not_charged_double(limiter_for):
    """The same number of one-segment texts take one slot each (the cost is the segment count)."""
    limiter = limiter_for(100)
    slots = [limiter.acquire(1) for _ in range(11)]
    assert offsets(slots, limiter.interval) == list(range(11))


def test_no_limit_never_waits(limiter_for, svc, clock):
    """A limit of 0 means unlimited: nothing waits and nothing is written to Redis."""
    limiter = limiter_for(0)
    before = set(svc.redis.scan_iter(f"{svc.settings.queue_prefix}*"))
    assert all(limiter.acquire(3, bulk=bulk) is None for _ in range(500) for bulk in (False, True))
    assert clock.sleeps == []
    assert set(svc.redis.scan_iter(f"{svc.settings.queue_prefix}*")) == before


def test_alert_goes_ahead_of_a_broadcast_in_progress(limiter_for, clock):
    """A raid alert asked for in the middle of a big broadcast gets a slot within a few, not after it."""
    limiter = limiter_for(40)
    # Twenty broadcast sends ask at once: bulk may reserve only a couple of slots ahead.
    broadcast = [limiter.reserve(1, bulk=True) for _ in range(20)]
    reserved = [slot for _, slot in broadcast if slot is not None]
    assert offsets(reserved, limiter.interval) == [0, 1, 2]
    wait, alert_slot = limiter.reserve(1)
    assert alert_slot is not None and offsets([reserved[0], alert_slot], limiter.interval) == [0, 3]
    # While the alert waits for its slot, the broadcast steps aside entirely...
    assert limiter.reserve(1, bulk=True)[1] is None
    # ...and carries on once the alert has gone.
    clock.now = alert_slot + 0.1
    assert limiter.reserve(1, bulk=True)[1] == pytest.approx(clock.now)


def test_broadcast_goes_when_no_alert_waits(limiter_for):
    """With nothing else waiting, a broadcast is sent at the full rate: one slot after another."""
    limiter = limiter_for(100)
    slots = [limiter.acquire(1, bulk=True) for _ in range(10)]
    assert offsets(slots, limiter.interval) == list(range(10))


def test_without_a_clock_redis_time_spaces_the_slots(limiter_for):
    """In production Redis' clock decides (every worker agrees): slots are still at least one apart."""
    limiter = limiter_for(100, fake_clock=False)
    slots = [limiter.acquire(1) for _ in range(5)]
    assert all(later - earlier >= limiter.interval - EPSILON for earlier, later in zip(slots, slots[1:], strict=False))
