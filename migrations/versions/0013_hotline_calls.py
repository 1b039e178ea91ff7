"""The hotline: calls stored before they are answered, recordings (id encrypted, length,
transcript), and a coordinator's own phone (encrypted, with its blind index).

Revision ID: 0013_hotline_calls
Revises: 0012_broadcasts
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import rapidresponse.db

revision = "0013_hotline_calls"
down_revision = "0012_broadcasts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbound_calls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_sid", sa.String(length=64), nullable=False),
        sa.Column("from_index", sa.String(length=64), nullable=True),
        sa.Column("from_token", sa.LargeBinary(), nullable=True),
        sa.Column("withheld", sa.Boolean(), nullable=False),
        sa.Column("received_at", rapidresponse.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", rapidresponse.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("handled_by", sa.Integer(), nullable=True),
        sa.Column("handled_at", rapidresponse.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("call_sid"),
        sa.UniqueConstraint("incident_id"),
    )
    with op.batch_alter_table("inbound_calls", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_inbound_calls_from_index"), ["from_index"], unique=False)
        batch_op.create_index("ix_inbound_calls_outcome_received", ["outcome", "received_at"], unique=False)
    op.create_table(
        "recordings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sid_index", sa.String(length=64), nullable=False),
        sa.Column("sid_token", sa.LargeBinary(), nullable=True),
        sa.Column("call_id", sa.Integer(), nullable=True),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("duration_seconds", sa.Integer(), nullable=False),
        sa.Column("transcript_token", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", rapidresponse.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("provider_deleted_at", rapidresponse.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("delete_after", rapidresponse.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("delete_attempts", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(["call_id"], ["inbound_calls.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sid_index"),
    )
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_recordings_call_id"), ["call_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_recordings_incident_id"), ["incident_id"], unique=False)
    with op.batch_alter_table("coordinators", schema=None) as batch_op:
        batch_op.add_column(sa.Column("phone_index", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("phone_token", sa.LargeBinary(), nullable=True))
        batch_op.create_unique_constraint("uq_coordinators_phone_index", ["phone_index"])


def downgrade() -> None:
    with op.batch_alter_table("coordinators", schema=None) as batch_op:
        batch_op.drop_constraint("uq_coordinators_phone_index", type_="unique")
        batch_op.drop_column("phone_token")
        batch_op.drop_column("phone_index")
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_recordings_incident_id"))
        batch_op.drop_index(batch_op.f("ix_recordings_call_id"))
    op.drop_table("recordings")
    with op.batch_alter_table("inbound_calls", schema=None) as batch_op:
        batch_op.drop_index("ix_inbound_calls_outcome_received")
        batch_op.drop_index(batch_op.f("ix_inbound_calls_from_index"))
    op.drop_table("inbound_calls")
