"""Nothing left at the provider: every text sent or received is deleted there exactly once."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from sqlalchemy import select

from rapidresponse.messaging.models import InboundMessage, OutboundMessage
from tests.e2e.harness import Stack, wait_until
from tests.e2e.test_alert_escalation import incident

REPORTER = "+12125550250"
VERIFIER = "+12125550251"
RESPONDERS = ["+12125550252", "+12125550253"]


def test_every_text_is_deleted_at_the_provider_exactly_once(tmp_path: Path):
    """A report, alerts, answers, replies and a stranger's HELP: the provider ends up holding nothing,
    got exactly one DELETE per message, and our rows keep no provider SID."""
    stack = Stack(tmp_path, PROVIDER_DELETE_DELAY_SECONDS="1")
    try:
        stack.member(VERIFIER, roles="responder", trees={"ice": 1})
        for number in RESPONDERS:
            stack.member(number, roles="responder", trees={"ice": 2})
        stack.start_worker()
        stack.text(REPORTER, "ICE at 5th and Main, 2 vans")
        code = incident(stack).code
        wait_until(lambda: stack.received(VERIFIER))
        stack.text(VERIFIER, "YES")
        stack.text(VERIFIER, f"CONFIRM {code}")
        wait_until(lambda: all(stack.received(n) for n in RESPONDERS))
        stack.text(RESPONDERS[0], "YES")
        stack.text(RESPONDERS[1], "on my way, 5 min")
        stack.text("+12125550259", "HELP")
        wait_until(lambda: len(stack.fake.held()) >= 14)  # 6 texts in, 6 replies, 3 alerts, relays
        created = set(stack.fake.held())
        wait_until(lambda: not stack.fake.held(), timeout=30)
        deletes = Counter(d["sid"] for d in stack.fake.deletes)
        assert created <= set(deletes)
        assert {sid: n for sid, n in deletes.items() if n != 1} == {}
        assert {d["status"] for d in stack.fake.deletes} == {204}

        def sids_dropped() -> bool:
            # The job drops a SID right after the provider's 204: on a loaded machine, a moment later.
            with stack.svc.db.session() as session:
                outbound = session.scalars(select(OutboundMessage.id).where(
                    OutboundMessage.provider_sid.is_not(None))).all()
                kept = session.scalars(select(InboundMessage.message_sid)).all()
            return not outbound and len(kept) == 6 and not any(sid.startswith("SM") for sid in kept)

        wait_until(sids_dropped, timeout=30)
    finally:
        stack.close()
