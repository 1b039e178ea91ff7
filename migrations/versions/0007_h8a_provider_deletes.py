"""Deleting texts at the provider: when the next attempt is due, how many were made, and (inbound)
when it was done.

Revision ID: 0007_h8a_provider_deletes
Revises: 0006_h8b_incident_plans
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import rapidresponse.db

revision = "0007_h8a_provider_deletes"
down_revision = "0006_h8b_incident_plans"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inbound_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("provider_deleted_at", rapidresponse.db.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column("delete_after", rapidresponse.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("delete_attempts", sa.Integer(), server_default="0", nullable=False))
        batch_op.create_index("ix_inbound_provider_deleted_received", ["provider_deleted_at", "received_at"],
                              unique=False)
    with op.batch_alter_table("outbound_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("delete_after", rapidresponse.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("delete_attempts", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("outbound_messages", schema=None) as batch_op:
        batch_op.drop_column("delete_attempts")
        batch_op.drop_column("delete_after")
    with op.batch_alter_table("inbound_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_inbound_provider_deleted_received")
        batch_op.drop_column("delete_attempts")
        batch_op.drop_column("delete_after")
        batch_op.drop_column("provider_deleted_at")
