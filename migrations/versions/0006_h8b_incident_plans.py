"""An incident's tree and frozen plan (layer names, quorums) are stored encrypted.

Revision ID: 0006_h8b_incident_plans
Revises: 0005_h8b_pseudonyms
Create Date: 2026-12-01

`incidents.tree` and `incidents.plan` said in clear what kind of response each incident was and
named its layers, and thread lines repeated the tree and layer names. The plan (which holds the
tree's name) becomes one Fernet token; thread details lose the names. Existing rows are
converted with the key `rapidresponse db upgrade` passes; not reversible without it.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0006_h8b_incident_plans"
down_revision = "0005_h8b_pseudonyms"
branch_labels = None
depends_on = None

incidents = sa.table("incidents", sa.column("id", sa.Integer), sa.column("plan", sa.JSON),
                     sa.column("plan_token", sa.LargeBinary))
events = sa.table("thread_events", sa.column("id", sa.Integer), sa.column("kind", sa.String),
                  sa.column("detail", sa.JSON))


def upgrade() -> None:
    bind = op.get_bind()
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("plan_token", sa.LargeBinary(), nullable=True))
    rows = bind.execute(sa.select(incidents.c.id, incidents.c.plan)).all()
    if rows:
        config = op.get_context().config
        cipher = config.attributes.get("cipher") if config is not None else None
        if cipher is None:
            raise RuntimeError("DATA_KEY: needed to encrypt existing incidents' plans; "
                               "run `rapidresponse db upgrade` (it passes the key)")
        for incident_id, plan in rows:
            plain = plan if isinstance(plan, str) else json.dumps(plan)
            bind.execute(sa.update(incidents).where(incidents.c.id == incident_id)
                         .values(plan_token=cipher.encrypt(plain)))
    for event_id, detail in bind.execute(sa.select(events.c.id, events.c.detail).where(
            events.c.kind.in_(["report", "layer_alerted", "layer_skipped"]))).all():
        data = json.loads(detail) if isinstance(detail, str) else dict(detail or {})
        if "tree" in data or "name" in data:
            data.pop("tree", None)
            data.pop("name", None)
            bind.execute(sa.update(events).where(events.c.id == event_id).values(detail=data))
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.alter_column("plan_token", existing_type=sa.LargeBinary(), nullable=False)
        batch_op.drop_column("plan")
        batch_op.drop_column("tree")


def downgrade() -> None:
    raise NotImplementedError("incident plans are only stored encrypted now; restore a backup to go back")
