"""Acknowledgements and thread lines name participants by pseudonym, not by member id or number.

Revision ID: 0005_h8b_pseudonyms
Revises: 0004_h8b_private_roles
Create Date: 2026-12-01

`acknowledgements.member_id` said in clear who answered an alert, and thread lines carried a
member id and "responder …0103". Both now point at an incident participant ("responder 3"),
whose member is found by keyed tag and resolved from an encrypted id, with DATA_KEY only.
Existing rows are converted (with the key `rapidresponse db upgrade` passes); not reversible.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_h8b_pseudonyms"
down_revision = "0004_h8b_private_roles"
branch_labels = None
depends_on = None

acks = sa.table("acknowledgements", sa.column("id", sa.Integer), sa.column("incident_id", sa.Integer),
                sa.column("member_id", sa.Integer), sa.column("participant_id", sa.Integer))
events = sa.table("thread_events", sa.column("id", sa.Integer), sa.column("incident_id", sa.Integer),
                  sa.column("member_id", sa.Integer), sa.column("participant_id", sa.Integer),
                  sa.column("kind", sa.String), sa.column("actor", sa.String))
members = sa.table("members", sa.column("id", sa.Integer), sa.column("places_token", sa.LargeBinary))
participants = sa.table("incident_participants", sa.column("id", sa.Integer), sa.column("incident_id", sa.Integer),
                        sa.column("number", sa.Integer), sa.column("member_tag", sa.String),
                        sa.column("member_token", sa.LargeBinary), sa.column("label_token", sa.LargeBinary))


def upgrade() -> None:
    bind = op.get_bind()
    op.create_table(
        "incident_participants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("member_tag", sa.String(length=64), nullable=True),
        sa.Column("member_token", sa.LargeBinary(), nullable=True),
        sa.Column("label_token", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("incident_id", "member_tag"),
        sa.UniqueConstraint("incident_id", "number"),
    )
    with op.batch_alter_table("incident_participants", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_incident_participants_incident_id"), ["incident_id"], unique=False)
    with op.batch_alter_table("acknowledgements", schema=None) as batch_op:
        batch_op.add_column(sa.Column("participant_id", sa.Integer(), nullable=True))
    with op.batch_alter_table("thread_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("participant_id", sa.Integer(), nullable=True))

    pairs = set(bind.execute(sa.select(acks.c.incident_id, acks.c.member_id)
                             .where(acks.c.member_id.is_not(None))).all())
    pairs |= set(bind.execute(sa.select(events.c.incident_id, events.c.member_id)
                              .where(events.c.member_id.is_not(None))).all())
    forgotten = bind.execute(sa.select(acks.c.id, acks.c.incident_id).where(acks.c.member_id.is_(None))).all()
    if pairs or forgotten:
        _name_participants(bind, sorted(pairs), forgotten)
    # Lines that named someone by role and last four digits now name nobody: the view resolves them.
    bind.execute(sa.update(events).where(events.c.participant_id.is_not(None)).values(actor=""))
    bind.execute(sa.update(events).where(events.c.kind.like("%\\_sent", escape="\\")).values(actor=""))

    with op.batch_alter_table("acknowledgements", schema=None) as batch_op:
        batch_op.alter_column("participant_id", existing_type=sa.Integer(), nullable=False)
        batch_op.create_foreign_key(batch_op.f("fk_acknowledgements_participant_id_incident_participants"),
                                    "incident_participants", ["participant_id"], ["id"], ondelete="CASCADE")
        batch_op.create_unique_constraint(batch_op.f("uq_acknowledgements_incident_id_participant_id"),
                                          ["incident_id", "participant_id"])
        batch_op.drop_column("member_id")
    with op.batch_alter_table("thread_events", schema=None) as batch_op:
        batch_op.create_foreign_key(batch_op.f("fk_thread_events_participant_id_incident_participants"),
                                    "incident_participants", ["participant_id"], ["id"], ondelete="SET NULL")
        batch_op.drop_column("member_id")


def _name_participants(bind: sa.Connection, pairs: list[tuple[int, int]], forgotten: list[tuple[int, int]]) -> None:
    """A participant per (incident, member) named before; one with no member behind it for each
    acknowledgement of a closed incident that had already forgotten who answered."""
    import json

    from rapidresponse.incidents.service import participant_tag

    config = op.get_context().config
    cipher = config.attributes.get("cipher") if config is not None else None
    if cipher is None:
        raise RuntimeError("DATA_KEY: needed to give existing acknowledgements pseudonyms; "
                           "run `rapidresponse db upgrade` (it passes the key)")
    numbers: dict[int, int] = {}
    for incident_id, member_id in pairs:
        token = bind.execute(sa.select(members.c.places_token).where(members.c.id == member_id)).scalar()
        roles = set(json.loads(cipher.decrypt(token))["roles"]) if token is not None else set()
        label = "coordinator" if "coordinator" in roles else "responder" if "responder" in roles else "member"
        numbers[incident_id] = numbers.get(incident_id, 0) + 1
        new_id = bind.execute(sa.insert(participants).values(
            incident_id=incident_id, number=numbers[incident_id],
            member_tag=participant_tag(cipher, incident_id, member_id), member_token=cipher.encrypt(str(member_id)),
            label_token=cipher.encrypt(label)).returning(participants.c.id)).scalar_one()
        for table in (acks, events):
            bind.execute(sa.update(table).where(table.c.incident_id == incident_id, table.c.member_id == member_id)
                         .values(participant_id=new_id))
    for ack_id, incident_id in forgotten:
        numbers[incident_id] = numbers.get(incident_id, 0) + 1
        new_id = bind.execute(sa.insert(participants).values(
            incident_id=incident_id, number=numbers[incident_id], label_token=cipher.encrypt("responder"))
            .returning(participants.c.id)).scalar_one()
        bind.execute(sa.update(acks).where(acks.c.id == ack_id).values(participant_id=new_id))


def downgrade() -> None:
    raise NotImplementedError("who answered is only stored under pseudonyms now; restore a backup to go back")
