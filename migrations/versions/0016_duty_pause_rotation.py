"""Pause, duty hours and rotation on members; waves on incident layers; load counts; layer coverage.

Revision ID: 0016_duty_pause_rotation
Revises: 0015_scaleplan_layer_streaming
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import rapidresponse.db

revision = "0016_duty_pause_rotation"
down_revision = "0015_scaleplan_layer_streaming"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("layer_coverage",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("tree", sa.String(length=32), nullable=False),
    sa.Column("layer", sa.Integer(), nullable=False),
    sa.Column("members", sa.Integer(), nullable=False),
    sa.Column("paused", sa.Integer(), nullable=False),
    sa.Column("on_duty", sa.Integer(), nullable=False),
    sa.Column("quorum", sa.Integer(), nullable=False),
    sa.Column("short", sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column("checked_at", rapidresponse.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column("warned_at", rapidresponse.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint("id"),
    sa.UniqueConstraint("tree", "layer")
    )
    op.create_table("member_load",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("member_id", sa.Integer(), nullable=False),
    sa.Column("bucket", sa.Integer(), nullable=False),
    sa.Column("alerts", sa.Integer(), server_default="0", nullable=False),
    sa.Column("answered", sa.Integer(), server_default="0", nullable=False),
    sa.Column("on_the_way", sa.Integer(), server_default="0", nullable=False),
    sa.ForeignKeyConstraint(["member_id"], ["members.id"], ondelete="CASCADE"),
    sa.PrimaryKeyConstraint("id"),
    sa.UniqueConstraint("member_id", "bucket")
    )
    with op.batch_alter_table("member_load", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_member_load_member_id"), ["member_id"], unique=False)

    with op.batch_alter_table("incident_layers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("waves_sent", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("next_wave_at", rapidresponse.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_incident_layers_next_wave_at"), ["next_wave_at"], unique=False)

    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.add_column(sa.Column("paused_until", rapidresponse.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("duty_start", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("duty_end", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("last_alerted_at", rapidresponse.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_members_paused_until"), ["paused_until"], unique=False)



def downgrade() -> None:
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_members_paused_until"))
        batch_op.drop_column("last_alerted_at")
        batch_op.drop_column("duty_end")
        batch_op.drop_column("duty_start")
        batch_op.drop_column("paused_until")

    with op.batch_alter_table("incident_layers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_incident_layers_next_wave_at"))
        batch_op.drop_column("next_wave_at")
        batch_op.drop_column("waves_sent")

    with op.batch_alter_table("member_load", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_member_load_member_id"))

    op.drop_table("member_load")
    op.drop_table("layer_coverage")
