"""Hotline calls deleted at the provider once over: when, the claim, the attempts.

Revision ID: 0014_call_deletes
Revises: 0013_hotline_calls
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import rapidresponse.db

revision = "0014_call_deletes"
down_revision = "0013_hotline_calls"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inbound_calls", schema=None) as batch_op:
        batch_op.add_column(sa.Column("provider_deleted_at", rapidresponse.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("delete_after", rapidresponse.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("delete_attempts", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("inbound_calls", schema=None) as batch_op:
        batch_op.drop_column("delete_attempts")
        batch_op.drop_column("delete_after")
        batch_op.drop_column("provider_deleted_at")
