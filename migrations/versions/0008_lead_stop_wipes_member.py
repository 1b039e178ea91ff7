"""After STOP a member keeps only what honouring it needs: the blind index, the status and when.

Members who texted STOP before this revision lose their encrypted number, name and zone here, and
their roles and tree places become a plain member's (tag rows turned into fillers, so their count
stays). The new places need the key, which `rapidresponse db upgrade` hands over.

Revision ID: 0008_lead_stop_wipes_member
Revises: 0007_h8a_provider_deletes
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_lead_stop_wipes_member"
down_revision = "0007_h8a_provider_deletes"
branch_labels = None
depends_on = None

members = sa.table("members", sa.column("id", sa.Integer), sa.column("status", sa.String),
                   sa.column("phone_token", sa.LargeBinary), sa.column("name_token", sa.LargeBinary),
                   sa.column("zone", sa.String), sa.column("places_token", sa.LargeBinary))
member_tags = sa.table("member_tags", sa.column("id", sa.Integer), sa.column("member_id", sa.Integer),
                       sa.column("tag", sa.String))


def upgrade() -> None:
    from rapidresponse.members.registry import filler_tag, seal_places

    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.alter_column("phone_token", existing_type=sa.LargeBinary(), nullable=True)
    bind = op.get_bind()
    stopped = [row[0] for row in bind.execute(sa.select(members.c.id).where(members.c.status == "opted_out"))]
    if not stopped:
        return
    config = op.get_context().config
    cipher = config.attributes.get("cipher") if config is not None else None
    if cipher is None:
        raise RuntimeError("DATA_KEY: needed to wipe the places of members who texted STOP; "
                           "run `rapidresponse db upgrade` (it passes the key)")
    for member_id in stopped:
        bind.execute(members.update().where(members.c.id == member_id).values(
            phone_token=None, name_token=None, zone=None,
            places_token=seal_places(cipher, frozenset({"member"}), {})))
        for (tag_id,) in bind.execute(sa.select(member_tags.c.id).where(member_tags.c.member_id == member_id)).all():
            bind.execute(member_tags.update().where(member_tags.c.id == tag_id).values(tag=filler_tag()))


def downgrade() -> None:
    raise RuntimeError("a wiped number cannot come back: this revision cannot be undone")
