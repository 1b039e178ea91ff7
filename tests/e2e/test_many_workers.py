"""Many workers sharing a send-rate limit text every member of an alert exactly once.

Claimed texts wait their turn at the shared limit for longer than the lease; before the fix the
sweep took them for a dead worker's, found nothing sent yet, and they went out twice."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from rapidresponse.messaging.models import OutboundMessage
from tests.e2e.harness import Stack, wait_until

DEFENDERS = [f"+1212556{n:04d}" for n in range(100)]


@pytest.mark.parametrize("workers", [3, 4])
def test_workers_under_a_rate_limit_text_each_member_once(tmp_path: Path, workers: int):
    """3 or 4 workers, 10 texts a second, a 3-second lease, the sweep every 0.3 s: 0 duplicates, 0 misses."""
    stack = Stack(tmp_path, latency=0.02, callbacks=False, SEND_RATE_SEGMENTS_PER_SECOND="10",
                  SEND_LEASE_SECONDS="3", SEND_TIMEOUT_SECONDS="2", ALERT_BATCH_SIZE="10")
    try:
        for number in DEFENDERS:
            stack.member(number, roles="responder", trees={"eviction": 1})
        for _ in range(workers):
            stack.start_worker()
        stack.text("+12125550199", "EVICTION 12 Oak St, crew at the door")
        wait_until(lambda: {m["to"] for m in stack.fake.messages} >= set(DEFENDERS), timeout=60)
        time.sleep(4)  # longer than the lease: a late duplicate would show up now
        per_number = Counter(m["to"] for m in stack.fake.messages if m["to"] in DEFENDERS)
        assert {n: c for n, c in per_number.items() if c != 1} == {}, stack.worker_logs()[-3000:]
        assert set(per_number) == set(DEFENDERS)
        with stack.svc.db.session() as session:
            unsent = session.scalar(select(func.count()).select_from(OutboundMessage).where(
                OutboundMessage.status.in_(["pending", "sending"])))
        assert unsent == 0
    finally:
        stack.close()
