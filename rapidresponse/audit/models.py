"""Audit entries, and the database triggers that keep them append-only.

Stored values are chosen so a copy of the database names nothing it should not: no column holds
free text, and a console account is stored as the target "account" (the word "coordinator" in a
row would tell who organises; tests/storage/test_nothing_readable_without_the_key.py checks).
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum

from sqlalchemy import DDL, Integer, String, event
from sqlalchemy.orm import Mapped, mapped_column

from rapidresponse.db import Base, UTCDateTime


class AuditAction(str, Enum):
    """What was done. Values are stored: never rename one, add new ones."""

    BROADCAST = "broadcast"
    BROADCAST_CANCEL = "broadcast_cancel"
    CONFIRM = "confirm"
    STAND_DOWN = "stand_down"  # closed as a false alarm
    RESOLVE = "resolve"
    CLOSE_DRILL = "close_drill"
    START_DRILL = "start_drill"
    REVEAL = "reveal"  # a masked number shown in full (console/threads.reveal, a missed call's caller)
    LISTEN = "listen"  # a hotline recording played in the console
    SHRED = "shred"  # every incident, thread and message deleted (count: incidents)
    MEMBER_ADD = "member_add"
    MEMBER_EDIT = "member_edit"
    MEMBER_REMOVE = "member_remove"
    MEMBERS_IMPORT = "members_import"  # count: members imported
    MEMBERS_EXPORT = "members_export"  # count: members in the file
    INVITE = "invite"
    DISABLE = "disable"
    ENABLE = "enable"
    # A new one-time link was made and the old password stopped working (names, not passwords: S105).
    PASSWORD_RESET = "password_reset"  # noqa: S105
    # The invitee, or the one reset, chose a password through their link.
    PASSWORD_SET = "password_set"  # noqa: S105
    ADMIN_GRANT = "admin_grant"
    ADMIN_REVOKE = "admin_revoke"
    CAMPAIGN = "campaign"
    CAMPAIGN_START = "campaign_start"
    CAMPAIGN_END = "campaign_end"


class Target(str, Enum):
    """What kind of record an entry is about (its id is in target_id)."""

    INCIDENT = "incident"
    MEMBER = "member"
    BROADCAST = "broadcast"
    CALL = "call"  # a hotline call (missed calls' call-back)
    RECORDING = "recording"
    CAMPAIGN = "campaign"
    COORDINATOR = "account"  # a console sign-in; see the module docstring for the stored word


class AuditEvent(Base):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # The coordinator who acted; NULL for the `rapidresponse` command line. No foreign key: an
    # entry outlives nothing it points at being changed, and must never be rewritten by a cascade.
    actor_id: Mapped[int | None] = mapped_column(Integer, default=None)
    action: Mapped[str] = mapped_column(String(32))
    target: Mapped[str | None] = mapped_column(String(16), default=None)
    target_id: Mapped[int | None] = mapped_column(Integer, default=None)
    count: Mapped[int | None] = mapped_column(Integer, default=None)


class AuditPurge(Base):
    """While the retention purge runs, one row here lets it delete entries older than `cutoff`.

    The triggers refuse every other UPDATE or DELETE of an entry. They guard against a mistake in
    code, not against someone who can run SQL as the table's owner (who could drop them)."""

    __tablename__ = "audit_purges"

    id: Mapped[int] = mapped_column(primary_key=True)
    cutoff: Mapped[datetime] = mapped_column(UTCDateTime)


SQLITE_TRIGGERS = (
    """CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
    """CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
WHEN NOT EXISTS (SELECT 1 FROM audit_purges WHERE old.at < audit_purges.cutoff)
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
)
POSTGRES_TRIGGERS = (
    """CREATE FUNCTION audit_events_append_only() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'DELETE' AND EXISTS (SELECT 1 FROM audit_purges WHERE OLD.at < audit_purges.cutoff) THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'the audit log is append-only';
END $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()""",
    """CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()""",
)
DROP_TRIGGERS = {
    "sqlite": ("DROP TRIGGER IF EXISTS audit_events_no_update", "DROP TRIGGER IF EXISTS audit_events_no_delete"),
    "postgresql": ("DROP TRIGGER IF EXISTS audit_events_no_truncate ON audit_events",
                   "DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events",
                   "DROP FUNCTION IF EXISTS audit_events_append_only()"),
}

# Tables made without Alembic (tests) get the same triggers as the migration creates.
for _statement in SQLITE_TRIGGERS:
    event.listen(Base.metadata, "after_create", DDL(_statement).execute_if(dialect="sqlite"))  # type: ignore[no-untyped-call]
for _statement in POSTGRES_TRIGGERS:
    event.listen(Base.metadata, "after_create", DDL(_statement).execute_if(dialect="postgresql"))  # type: ignore[no-untyped-call]
