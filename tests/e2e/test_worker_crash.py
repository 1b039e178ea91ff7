"""A worker killed mid-batch: after a restart every recipient has exactly one alert."""

from __future__ import annotations

import signal
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import func, select

from rapidresponse.messaging.models import OutboundMessage
from tests.e2e.harness import Stack, wait_until

DEFENDERS = [f"+1212555{n:04d}" for n in range(2000, 2060)]


def test_worker_killed_mid_batch_sends_each_recipient_exactly_once(tmp_path: Path):
    """SIGKILL in the middle of a 60-recipient alert; a new worker finishes it with no duplicate and no gap."""
    # The lease must outlast a live worker's slowest chunk even on a loaded machine, or a
    # claim still in flight would be taken for a dead worker's.
    stack = Stack(tmp_path, latency=0.05, callbacks=False, SEND_CONCURRENCY="2", SEND_LEASE_SECONDS="4")
    try:
        for number in DEFENDERS:
            stack.member(number, roles="responder", trees={"eviction": 1})
        first = stack.start_worker()
        stack.text("+12125550199", "EVICTION 12 Oak St, crew at the door")
        wait_until(lambda: stack.fake.count >= 12)
        stack.signal_worker(first, signal.SIGKILL)  # the worker and its scheduler, as a crash would
        first.wait()
        killed_at = stack.fake.count
        assert killed_at < len(DEFENDERS), "the worker finished before it could be killed"
        stack.start_worker()
        wait_until(lambda: {m["to"] for m in stack.fake.messages} >= set(DEFENDERS))
        time.sleep(5)  # longer than the lease: a late duplicate would show up now
        per_number = Counter(m["to"] for m in stack.fake.messages)
        assert {n: c for n, c in per_number.items() if c != 1} == {}
        assert set(per_number) == set(DEFENDERS)
        with stack.svc.db.session() as session:
            unsent = session.scalar(select(func.count()).select_from(OutboundMessage).where(
                OutboundMessage.status.in_(["pending", "sending"])))
        assert unsent == 0
    finally:
        stack.close()
