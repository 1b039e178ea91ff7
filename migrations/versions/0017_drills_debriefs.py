"""Drills (an incident marked as practice) and debriefs (asked a day after an incident closes).

Revision ID: 0017_drills_debriefs
Revises: 0016_duty_pause_rotation
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import rapidresponse.db

revision = "0017_drills_debriefs"
down_revision = "0016_duty_pause_rotation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("drill", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_table(
        "debriefs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("member_tag", sa.String(length=64), nullable=False),
        sa.Column("member_token", sa.LargeBinary(), nullable=False),
        sa.Column("due_at", rapidresponse.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", rapidresponse.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("answer", sa.String(length=16), nullable=True),
        sa.Column("answered_at", rapidresponse.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("support_done_at", rapidresponse.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("support_done_by", sa.Integer(), nullable=True),
        sa.Column("created_at", rapidresponse.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("incident_id", "member_tag"),
    )
    with op.batch_alter_table("debriefs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_debriefs_due_at"), ["due_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_debriefs_incident_id"), ["incident_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_debriefs_member_tag"), ["member_tag"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("debriefs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_debriefs_member_tag"))
        batch_op.drop_index(batch_op.f("ix_debriefs_incident_id"))
        batch_op.drop_index(batch_op.f("ix_debriefs_due_at"))
    op.drop_table("debriefs")
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_column("drill")
