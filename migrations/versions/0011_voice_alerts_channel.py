"""Voice alerts: a member's channel (sms, voice or both), and each outbound message's channel
(sms or voice) with the key an alert call's answerer pressed.

Revision ID: 0011_voice_alerts_channel
Revises: 0010_members_admin_sign_in_links
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_voice_alerts_channel"
down_revision = "0010_members_admin_sign_in_links"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.add_column(sa.Column("channel", sa.String(length=8), server_default="sms", nullable=False))
    with op.batch_alter_table("outbound_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("channel", sa.String(length=8), server_default="sms", nullable=False))
        batch_op.add_column(sa.Column("keypress", sa.String(length=1), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbound_messages", schema=None) as batch_op:
        batch_op.drop_column("keypress")
        batch_op.drop_column("channel")
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.drop_column("channel")
