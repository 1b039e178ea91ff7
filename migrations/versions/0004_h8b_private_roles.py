"""Roles, tree memberships and coordinator emails out of the clear.

Revision ID: 0004_h8b_private_roles
Revises: 0003_h8b_key_check
Create Date: 2026-12-01

`members.roles` and `tree_memberships` said in clear who is a rapid responder and in which
tree and layer; `coordinators.email` named the organisers. They become an encrypted, padded
places token plus keyed tags (member_tags), and an encrypted email found by its blind index.
Existing rows are converted here, which needs DATA_KEY: `rapidresponse db upgrade` passes it.
Not reversible without the key, so downgrade refuses.
"""

from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa
from alembic import op

revision = "0004_h8b_private_roles"
down_revision = "0003_h8b_key_check"
branch_labels = None
depends_on = None

members = sa.table("members", sa.column("id", sa.Integer), sa.column("roles", sa.String),
                   sa.column("phone_token", sa.LargeBinary), sa.column("places_token", sa.LargeBinary))
memberships = sa.table("tree_memberships", sa.column("member_id", sa.Integer), sa.column("tree", sa.String),
                       sa.column("layer", sa.Integer))
member_tags = sa.table("member_tags", sa.column("member_id", sa.Integer), sa.column("tag", sa.String))
coordinators = sa.table("coordinators", sa.column("id", sa.Integer), sa.column("email", sa.String),
                        sa.column("email_index", sa.String), sa.column("email_token", sa.LargeBinary))


def _cipher(bind: sa.Connection):  # type: ignore[no-untyped-def]
    """The cipher `rapidresponse db upgrade` handed over, checked against a stored number; None when
    there is nothing to convert."""
    count = bind.execute(sa.select(sa.func.count()).select_from(members)).scalar_one()
    count += bind.execute(sa.select(sa.func.count()).select_from(coordinators)).scalar_one()
    if not count:
        return None
    config = op.get_context().config
    cipher = config.attributes.get("cipher") if config is not None else None
    if cipher is None:
        raise RuntimeError("DATA_KEY: needed to encrypt existing roles, trees and emails; "
                           "run `rapidresponse db upgrade` (it passes the key)")
    token = bind.execute(sa.select(members.c.phone_token).limit(1)).scalar()
    if token is not None:
        cipher.decrypt(token)  # a wrong key stops here, before anything is written under it
    return cipher


def upgrade() -> None:
    from rapidresponse.console.models import email_index
    from rapidresponse.members.registry import TAG_SLOTS, filler_tag, seal_places, tags_for

    bind = op.get_bind()
    cipher = _cipher(bind)

    op.create_table(
        "member_tags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("tag", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("member_tags", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_member_tags_member_id"), ["member_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_member_tags_tag"), ["tag"], unique=False)
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.add_column(sa.Column("places_token", sa.LargeBinary(), nullable=True))
    with op.batch_alter_table("coordinators", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email_index", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("email_token", sa.LargeBinary(), nullable=True))

    if cipher is not None:
        trees: dict[int, dict[str, int]] = defaultdict(dict)
        for member_id, tree, layer in bind.execute(sa.select(memberships)):
            trees[member_id][tree] = layer
        for member_id, roles in bind.execute(sa.select(members.c.id, members.c.roles)).all():
            role_set = [r for r in (roles or "member").split(",") if r]
            where = trees.get(member_id, {})
            bind.execute(sa.update(members).where(members.c.id == member_id)
                         .values(places_token=seal_places(cipher, role_set, where)))
            tags = sorted(tags_for(cipher, role_set, where))
            tags += [filler_tag() for _ in range(TAG_SLOTS - len(tags))]
            bind.execute(sa.insert(member_tags), [{"member_id": member_id, "tag": t} for t in tags])
        for coordinator_id, email in bind.execute(sa.select(coordinators.c.id, coordinators.c.email)).all():
            plain = email.strip().lower()
            bind.execute(sa.update(coordinators).where(coordinators.c.id == coordinator_id)
                         .values(email_index=email_index(cipher, plain), email_token=cipher.encrypt(plain)))

    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.alter_column("places_token", existing_type=sa.LargeBinary(), nullable=False)
        batch_op.drop_column("roles")
    with op.batch_alter_table("tree_memberships", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tree_memberships_tree"))
        batch_op.drop_index(batch_op.f("ix_tree_memberships_member_id"))
    op.drop_table("tree_memberships")
    with op.batch_alter_table("coordinators", schema=None) as batch_op:
        batch_op.alter_column("email_index", existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column("email_token", existing_type=sa.LargeBinary(), nullable=False)
        batch_op.create_unique_constraint(batch_op.f("uq_coordinators_email_index"), ["email_index"])
        batch_op.drop_column("email")


def downgrade() -> None:
    raise NotImplementedError("roles, trees and emails are only stored encrypted now; restore a backup to go back")
