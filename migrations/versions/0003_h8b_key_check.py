"""The key check: a wrong DATA_KEY stops web, worker and CLI before they touch anything.

Revision ID: 0003_h8b_key_check
Revises: 0003_h8a_forget_members
Create Date: 2026-12-01

The value itself is written by the first process that starts with the right key
(privacy/keycheck.py): a migration does not know DATA_KEY.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from rapidresponse.db import UTCDateTime

revision = "0003_h8b_key_check"
down_revision = "0003_h8a_forget_members"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "key_check",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("value", sa.String(length=64), nullable=False),
        sa.Column("set_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("key_check")
