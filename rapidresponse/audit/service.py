"""Writing and reading the audit log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from rapidresponse.audit.models import AuditAction, AuditEvent, AuditPurge, Target

# actor_id for what is done from the `rapidresponse` command line (the operator at the server).
CLI = None


def record(session: Session, actor_id: int | None, action: AuditAction, now: datetime, *,
           target: Target | None = None, target_id: int | None = None, count: int | None = None) -> AuditEvent:
    """Append one entry to the audit log, in the caller's transaction (so it is there exactly when
    what it records is). `actor_id` is the coordinator's id, or CLI (None) for the command line.
    Only ids, a count and the time are kept: never pass anything that could hold a number or a body.
    """
    entry = AuditEvent(at=now, actor_id=actor_id, action=AuditAction(action).value,
                       target=Target(target).value if target is not None else None,
                       target_id=target_id, count=count)
    session.add(entry)
    return entry


@dataclass(frozen=True)
class Page:
    entries: list[AuditEvent]
    number: int  # from 1
    pages: int
    total: int


def page(session: Session, number: int = 1, size: int = 50) -> Page:
    """One page of the log, newest first (by id: entries are appended in time order)."""
    total = int(session.scalar(select(func.count()).select_from(AuditEvent)) or 0)
    pages = max(1, -(-total // size))
    number = min(max(1, number), pages)
    entries = list(session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())
                                   .offset((number - 1) * size).limit(size)))
    return Page(entries=entries, number=number, pages=pages, total=total)


def purge(session: Session, cutoff: datetime) -> int:
    """Delete entries older than `cutoff` (the retention purge; the only delete the triggers allow)."""
    permit = AuditPurge(cutoff=cutoff)
    session.add(permit)
    session.flush()
    result = session.execute(delete(AuditEvent).where(AuditEvent.at < cutoff))
    session.delete(permit)
    session.flush()
    return int(getattr(result, "rowcount", 0) or 0)
