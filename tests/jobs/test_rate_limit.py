"""The send rate limit, against real Redis: never more segments per second than the provider allows,
shared by every thread and worker, with alerts and replies ahead of broadcasts."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

import pytest

from rapidresponse.messaging.ratelimit import RateLimiter


@pytest.fixture
def limiter_for(svc) -> Callable[[float], RateLimiter]:
    """RateLimiter factory sharing one sender's keys (cleared with the test's queue prefix)."""
    prefix = f"{svc.settings.queue_prefix}{uuid.uuid4().hex[:8]}:"

    def make(limit: float) -> RateLimiter:
        return RateLimiter(svc.redis, "sender", limit, prefix=prefix)

    return make


def busiest_second(times: list[float]) -> int:
    """The most grants inside any one-second window."""
    times = sorted(times)
    return max(sum(1 for t in times[i:] if t - start < 1.0) for i, start in enumerate(times))


def timed(work: Callable[[], object]) -> float:
    start = time.monotonic()
    work()
    return time.monotonic() - start


class Grants:
    """When each acquire returned, from any number of threads."""

    def __init__(self) -> None:
        self.times: list[tuple[float, str]] = []
        self._lock = threading.Lock()

    def take(self, limiter: RateLimiter, kind: str = "", cost: int = 1, *, bulk: bool = False) -> None:
        limiter.acquire(cost, bulk=bulk)
        at = time.monotonic()
        with self._lock:
            self.times.append((at, kind))


def run_threads(targets: list[Callable[[], object]], timeout: float = 10) -> None:
    threads = [threading.Thread(target=target) for target in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    assert not any(t.is_alive() for t in threads)


def test_limit_holds_across_threads(limiter_for):
    """60 segments from 4 threads at 20/s: never more than 20 in any second, so it takes at least 2 s."""
    limiter = limiter_for(20)
    grants = Grants()

    def send() -> None:
        for _ in range(15):
            grants.take(limiter)

    elapsed = timed(lambda: run_threads([send] * 4))
    assert len(grants.times) == 60
    assert busiest_second([at for at, _ in grants.times]) <= 20
    assert 2.0 <= elapsed < 4.5


def test_two_limiters_on_the_same_sender_share_the_limit(limiter_for):
    """Two workers sending from the same number share one budget: 10 texts at 100/s take 9 slots."""
    first, second = limiter_for(100), limiter_for(100)
    elapsed = timed(lambda: [limiter.acquire(1) for _ in range(5) for limiter in (first, second)])
    assert elapsed >= 9 / 100


def test_a_long_text_counts_each_segment(limiter_for):
    """A two-segment text uses two segments of the budget: ten of them and one more take 20 slots."""
    limiter = limiter_for(100)

    def send() -> None:
        for _ in range(10):
            limiter.acquire(2)
        limiter.acquire(1)

    assert timed(send) >= 20 / 100


def test_single_segments_are_not_charged_double(limiter_for):
    """The same number of one-segment texts goes twice as fast (the cost is the segment count)."""
    limiter = limiter_for(100)
    assert timed(lambda: [limiter.acquire(1) for _ in range(11)]) < 20 / 100


def test_no_limit_never_waits(limiter_for, svc):
    """A limit of 0 means unlimited: nothing waits and nothing is written to Redis."""
    limiter = limiter_for(0)
    before = set(svc.redis.scan_iter(f"{svc.settings.queue_prefix}*"))
    assert timed(lambda: [limiter.acquire(3, bulk=bulk) for _ in range(500) for bulk in (False, True)]) < 0.5
    assert set(svc.redis.scan_iter(f"{svc.settings.queue_prefix}*")) == before


def test_alert_goes_ahead_of_a_broadcast_in_progress(limiter_for):
    """A raid alert asked for in the middle of a big broadcast goes out within a few slots, not after it."""
    limiter = limiter_for(40)
    grants = Grants()
    asked: list[float] = []

    def broadcast() -> None:
        grants.take(limiter, "broadcast", bulk=True)

    def alert() -> None:
        time.sleep(0.1)
        asked.append(time.monotonic())
        grants.take(limiter, "alert")

    run_threads([broadcast] * 20 + [alert])
    [(granted, _)] = [g for g in grants.times if g[1] == "alert"]
    # Bulk sends reserve at most a couple of slots ahead, so the alert waits only for those (the
    # whole broadcast would be 20 slots).
    assert granted - asked[0] < 6 / 40
    assert sum(1 for at, kind in grants.times if kind == "broadcast" and asked[0] < at < granted) <= 4


def test_broadcast_goes_when_no_alert_waits(limiter_for):
    """With nothing else waiting, a broadcast is sent at the full rate, not held back."""
    limiter = limiter_for(100)
    assert timed(lambda: [limiter.acquire(1, bulk=True) for _ in range(10)]) < 0.2
