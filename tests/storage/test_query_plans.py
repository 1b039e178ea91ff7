"""The outbox's hot queries find their rows by key, so planning and sending stay linear in the layer:
each chunk of 500 is 500 index look-ups, never a scan of every pending text (which made a
100,000-member alert quadratic). Checked with the databases' own EXPLAIN on the statements the
code really runs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event

from rapidresponse.messaging import outbox
from rapidresponse.messaging.models import Purpose
from rapidresponse.messaging.sender import Outcome, Sender
from rapidresponse.services import Services

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
STATUS_INDEX = "ix_outbound_status_claimed"


def some_texts(svc: Services, n: int = 5000) -> list[int]:
    """A table of `n` pending texts, as planning a big layer leaves it (PostgreSQL analyses it, as
    autovacuum would: its planner goes by statistics, SQLite's by rules of thumb)."""
    to = outbox.SealedNumber(svc.cipher.blind_index("+12125550100"), svc.cipher.encrypt("+12125550100"))
    texts = [outbox.Text(to=to, body="alert", purpose=Purpose.ALERT, dedupe_key=f"alert:1:{i}") for i in range(n)]
    with svc.db.session() as session:
        ids = outbox.record(session, svc.cipher, texts, NOW)
    if svc.db.engine.dialect.name == "postgresql":
        with svc.db.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE outbound_messages")
            conn.commit()
    return ids


@contextmanager
def statements(svc: Services) -> Iterator[list[tuple[str, Any]]]:
    """Every statement touching outbound_messages while the block runs, with its parameters."""
    seen: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if "outbound_messages" in statement and not executemany:
            seen.append((statement, parameters))

    event.listen(svc.db.engine, "before_cursor_execute", capture)
    try:
        yield seen
    finally:
        event.remove(svc.db.engine, "before_cursor_execute", capture)


def plan_of(svc: Services, statement: str, parameters: Any) -> str:
    """The query plan, as text."""
    with svc.db.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            rows = conn.exec_driver_sql("EXPLAIN " + statement, parameters).all()
            return "\n".join(str(row[0]) for row in rows)
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
        return "\n".join(str(row[-1]) for row in rows)


def plans(svc: Services, run: Callable[[], object], where: str) -> list[tuple[str, str]]:
    with statements(svc) as seen:
        run()
    found = [(statement, plan_of(svc, statement, parameters)) for statement, parameters in seen
             if where in statement]
    assert found, f"no statement with {where!r} ran"
    return found


def dedupe_index(svc: Services) -> str:
    return "outbound_messages_dedupe_key_key" if svc.db.engine.dialect.name == "postgresql" \
        else "sqlite_autoindex_outbound_messages"


def primary_key(svc: Services) -> str:
    return "outbound_messages_pkey" if svc.db.engine.dialect.name == "postgresql" else "INTEGER PRIMARY KEY"


def test_pending_ids_look_up_the_dedupe_key_index(svc: Services) -> None:
    """Recording a chunk finds its pending ids through the unique dedupe key, not the status index."""
    some_texts(svc)
    keys = [f"alert:1:{i}" for i in range(0, 5000, 100)]

    def run() -> None:
        with svc.db.session() as session:
            outbox.pending_ids(session, keys)

    for _, plan in plans(svc, run, "dedupe_key IN"):
        assert dedupe_index(svc) in plan, plan
        assert STATUS_INDEX not in plan, plan


def test_a_claim_finds_its_texts_by_primary_key(svc: Services) -> None:
    """The sender's claim (fresh and abandoned texts) and its lease renewal go by id, not status."""
    ids = some_texts(svc)
    sender = Sender(svc, clock=lambda: NOW)

    def run() -> None:
        with svc.db.session() as session:
            sender._claim(session, ids[::100], Outcome())
        sender.renew_leases()

    try:
        for statement, plan in plans(svc, run, "UPDATE outbound_messages"):
            if "claimed_at <=" in statement and svc.db.engine.dialect.name == "postgresql":
                # Taking over abandoned claims: PostgreSQL's statistics may rightly prefer the
                # claim-time range, which holds only claims older than a lease, never the pending.
                assert "Index Cond: (claimed_at <=" in plan or primary_key(svc) in plan, plan
                continue
            assert primary_key(svc) in plan, plan
            assert STATUS_INDEX not in plan, plan
    finally:
        sender.close()
