"""A layer planned in chunks: its cursor, the planner's and the senders' heartbeats; a member-ordered
index on the keyed tags so each chunk is one short index walk.

Revision ID: 0015_scaleplan_layer_streaming
Revises: 0014_call_deletes
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import rapidresponse.db

revision = "0015_scaleplan_layer_streaming"
down_revision = "0014_call_deletes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("incident_layers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("plan_pass", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("planned_through", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("planning_at", rapidresponse.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("sending_at", rapidresponse.db.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table("member_tags", schema=None) as batch_op:
        batch_op.create_index("ix_member_tags_tag_member", ["tag", "member_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("member_tags", schema=None) as batch_op:
        batch_op.drop_index("ix_member_tags_tag_member")
    with op.batch_alter_table("incident_layers", schema=None) as batch_op:
        batch_op.drop_column("sending_at")
        batch_op.drop_column("planning_at")
        batch_op.drop_column("planned_through")
        batch_op.drop_column("plan_pass")
