"""The audit log (append-only: triggers refuse UPDATE and DELETE) and the admin flag on coordinators.

The first coordinator (the lowest id) becomes an admin, so an existing network keeps someone who
can manage the others; `rapidresponse coordinators create --admin` makes more.

Revision ID: 0009_members_admin_audit
Revises: 0008_lead_stop_wipes_member
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from rapidresponse.audit.models import DROP_TRIGGERS, POSTGRES_TRIGGERS, SQLITE_TRIGGERS
from rapidresponse.db import UTCDateTime

revision = "0009_members_admin_audit"
down_revision = "0008_lead_stop_wipes_member"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("target", sa.String(length=16), nullable=True),
        sa.Column("target_id", sa.Integer(), nullable=True),
        sa.Column("count", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_events_at"), ["at"], unique=False)
    op.create_table(
        "audit_purges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cutoff", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    dialect = op.get_bind().dialect.name
    for statement in {"sqlite": SQLITE_TRIGGERS, "postgresql": POSTGRES_TRIGGERS}.get(dialect, ()):
        op.execute(statement)
    with op.batch_alter_table("coordinators", schema=None) as batch_op:
        batch_op.add_column(sa.Column("is_admin", sa.Boolean(), server_default=sa.false(), nullable=False))
    coordinators = sa.table("coordinators", sa.column("id", sa.Integer), sa.column("is_admin", sa.Boolean))
    bind = op.get_bind()
    first = bind.scalar(sa.select(sa.func.min(coordinators.c.id)))
    if first is not None:
        bind.execute(coordinators.update().where(coordinators.c.id == first).values(is_admin=True))


def downgrade() -> None:
    with op.batch_alter_table("coordinators", schema=None) as batch_op:
        batch_op.drop_column("is_admin")
    for statement in DROP_TRIGGERS.get(op.get_bind().dialect.name, ()):
        op.execute(statement)
    op.drop_table("audit_purges")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_events_at"))
    op.drop_table("audit_events")
