"""Broadcasts: the broadcast (its idempotency key unique), its text per language, replies,
templates, and each outbound text's broadcast.

Revision ID: 0012_broadcasts
Revises: 0011_voice_alerts_channel
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import rapidresponse.db

revision = "0012_broadcasts"
down_revision = "0011_voice_alerts_channel"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('broadcast_templates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name_token', sa.LargeBinary(), nullable=False),
    sa.Column('texts_token', sa.LargeBinary(), nullable=False),
    sa.Column('drill', sa.Boolean(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', rapidresponse.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['coordinators.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('broadcasts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=64), nullable=False),
    sa.Column('content_key', sa.String(length=80), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('drill', sa.Boolean(), nullable=False),
    sa.Column('audience_token', sa.LargeBinary(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', rapidresponse.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('planned_through', sa.Integer(), nullable=False),
    sa.Column('recipients', sa.Integer(), nullable=False),
    sa.Column('segments_total', sa.Integer(), nullable=False),
    sa.Column('chain', sa.Integer(), nullable=False),
    sa.Column('heartbeat_at', rapidresponse.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', rapidresponse.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('cancelled_by', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['cancelled_by'], ['coordinators.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['created_by'], ['coordinators.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('content_key'),
    sa.UniqueConstraint('idempotency_key')
    )
    op.create_table('broadcast_replies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('broadcast_id', sa.Integer(), nullable=False),
    sa.Column('inbound_message_id', sa.Integer(), nullable=True),
    sa.Column('member_token', sa.LargeBinary(), nullable=False),
    sa.Column('body_token', sa.LargeBinary(), nullable=False),
    sa.Column('at', rapidresponse.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['broadcast_id'], ['broadcasts.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['inbound_message_id'], ['inbound_messages.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('inbound_message_id')
    )
    with op.batch_alter_table('broadcast_replies', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_broadcast_replies_broadcast_id'), ['broadcast_id'], unique=False)

    op.create_table('broadcast_texts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('broadcast_id', sa.Integer(), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('body_token', sa.LargeBinary(), nullable=False),
    sa.Column('segments', sa.Integer(), nullable=False),
    sa.Column('fallback', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['broadcast_id'], ['broadcasts.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('broadcast_id', 'language')
    )
    with op.batch_alter_table('outbound_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('broadcast_id', sa.Integer(), nullable=True))
        batch_op.create_index('ix_outbound_broadcast_status', ['broadcast_id', 'status'], unique=False)
        batch_op.create_foreign_key("fk_outbound_broadcast", 'broadcasts', ['broadcast_id'], ['id'], ondelete='CASCADE')



def downgrade() -> None:
    with op.batch_alter_table('outbound_messages', schema=None) as batch_op:
        batch_op.drop_constraint("fk_outbound_broadcast", type_="foreignkey")
        batch_op.drop_index('ix_outbound_broadcast_status')
        batch_op.drop_column('broadcast_id')

    op.drop_table('broadcast_texts')
    with op.batch_alter_table('broadcast_replies', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_broadcast_replies_broadcast_id'))

    op.drop_table('broadcast_replies')
    op.drop_table('broadcasts')
    op.drop_table('broadcast_templates')
