"""The audit log is append-only: the database itself refuses to change or delete an entry, except the
retention purge of old ones; and an entry has no room for a number or a message body."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import String, delete, select, text, update
from sqlalchemy.exc import DatabaseError

from rapidresponse import audit
from rapidresponse.audit.models import AuditEvent
from rapidresponse.db import utcnow
from rapidresponse.privacy import retention


def entries(svc) -> list[tuple[str, int | None]]:
    with svc.db.session() as session:
        return [(e.action, e.target_id) for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))]


def add(svc, action=audit.AuditAction.CONFIRM, *, at=None, target_id=7) -> None:
    with svc.db.session() as session:
        audit.record(session, 3, action, at or utcnow(), target=audit.Target.INCIDENT, target_id=target_id)


def test_record_appends_an_entry_in_the_callers_transaction(svc):
    """An entry is written with what it records, and not at all if that transaction rolls back."""
    add(svc)
    with pytest.raises(RuntimeError), svc.db.session() as session:
        audit.record(session, 3, audit.AuditAction.RESOLVE, utcnow(), target=audit.Target.INCIDENT, target_id=8)
        raise RuntimeError("the decision failed")
    assert entries(svc) == [("confirm", 7)]


@pytest.mark.parametrize("statement", [
    update(AuditEvent).values(action="resolve"),
    update(AuditEvent).values(actor_id=None),
    delete(AuditEvent),
])
def test_the_database_refuses_to_change_or_delete_an_entry(svc, statement):
    """Even SQL that bypasses the code cannot rewrite or remove the log (a trigger refuses it)."""
    add(svc)
    with pytest.raises(DatabaseError, match="append-only"), svc.db.session() as session:
        session.execute(statement)
    assert entries(svc) == [("confirm", 7)]


def test_postgres_refuses_truncate_too(svc):
    """On PostgreSQL, TRUNCATE (which skips row triggers) is refused as well."""
    if svc.db.is_sqlite:
        pytest.skip("SQLite has no TRUNCATE")
    add(svc)
    with pytest.raises(DatabaseError, match="append-only"), svc.db.session() as session:
        session.execute(text("TRUNCATE audit_events"))
    assert len(entries(svc)) == 1


def test_retention_purge_removes_only_entries_older_than_the_cutoff(svc):
    """Audit entries expire with RETENTION_DAYS like every other record; newer ones stay, and
    afterwards the log is append-only again."""
    now = utcnow()
    add(svc, at=now - timedelta(days=90), target_id=1)
    add(svc, at=now - timedelta(days=1), target_id=2)
    with svc.db.session() as session:
        purged = retention.purge(session, now - timedelta(days=60))
    assert purged.audit_events == 1
    assert entries(svc) == [("confirm", 2)]
    with pytest.raises(DatabaseError, match="append-only"), svc.db.session() as session:
        session.execute(delete(AuditEvent))


def test_an_entry_has_no_column_that_could_hold_a_number_or_a_body():
    """Only ids, counts, a time and two short enum values: there is nowhere to put free text."""
    strings = {c.name: c.type.length for c in AuditEvent.__table__.columns if isinstance(c.type, String)}
    assert strings == {"action": 32, "target": 16}
    assert max(len(a.value) for a in audit.AuditAction) <= 32
    assert max(len(t.value) for t in audit.Target) <= 16
