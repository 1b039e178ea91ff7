"""Each layer's coverage now: reachable members, paused, on duty; and the coordinators' warning
when a layer drops below its quorum of people on duty (one text at most once a day per layer).

"Drops": a layer that had enough at the last check (or is seen for the first time with people in
it) and now has too few. A layer that stays short is shown on the console, not texted about
again; one that recovers and drops again is, a day after the last text at the earliest. A layer
with a duty window is short only inside its window: at 15:00 a 05:00-14:00 layer is off, not short.

Counted from the keyed layer tags like planning itself (no decryption), by the sweep every few
minutes (stored in `layer_coverage` for the console), by `trees show` and by the console's page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from rapidresponse.duty import rotation
from rapidresponse.duty import service as duty
from rapidresponse.duty.models import LayerCoverage
from rapidresponse.escalation.service import alertable
from rapidresponse.i18n import render
from rapidresponse.incidents.service import coordinators
from rapidresponse.members.models import Member, MemberTag
from rapidresponse.members.registry import RECIPIENT_COLUMNS, layer_tag
from rapidresponse.messaging import outbox
from rapidresponse.messaging.models import Purpose
from rapidresponse.privacy.crypto import FieldCipher
from rapidresponse.trees.model import Layer, Tree, Trees

WARN_EVERY = timedelta(days=1)


@dataclass(frozen=True)
class LayerCount:
    tree: str
    layer: int
    name: str
    quorum: int
    members: int  # reachable members of the layer
    paused: int
    on_duty: int  # reachable, unpaused, on duty now
    window: str | None  # the layer's duty window, if any
    wave: int | None
    in_window: bool = True  # now is inside the layer's duty window (always, without one)

    @property
    def label(self) -> str:
        """How coordinators call the layer: "ice verifiers"."""
        return f"{self.tree} {self.name}"

    @property
    def short(self) -> bool:
        return self.in_window and self.on_duty < self.quorum


def count_layer(session: Session, cipher: FieldCipher, tree: Tree, layer: Layer, now: datetime) -> LayerCount:
    members = select(*RECIPIENT_COLUMNS).join(MemberTag).where(
        MemberTag.tag == layer_tag(cipher, tree.name, layer.number), alertable(), Member.phone_token.is_not(None))
    # Planning's rules (rotation.count_layer), on counts of members alike rather than a row each.
    counted = rotation.count_layer(duty.duty_groups(session, members, now), now=now, zone=tree.zone_info,
                                   window=layer.window)
    window = layer.window
    return LayerCount(tree.name, layer.number, layer.name, layer.quorum, counted.members, counted.paused,
                      counted.on_duty, layer.on_duty, layer.wave, window is None or window.on_duty(now, tree.zone_info))


def count_all(session: Session, cipher: FieldCipher, trees: Trees, now: datetime) -> list[LayerCount]:
    return [count_layer(session, cipher, tree, layer, now) for tree in trees.trees.values() for layer in tree.layers]


def check(session: Session, cipher: FieldCipher, trees: Trees, now: datetime) -> list[int]:
    """Count every layer, store the counts, and tell the coordinators of each layer newly short of
    people on duty (at most once a day per layer). Returns the texts to send."""
    counts = count_all(session, cipher, trees, now)
    stored = {(row.tree, row.layer): row for row in session.scalars(select(LayerCoverage)).all()}
    texts: list[outbox.Text] = []
    for count in counts:
        row = stored.pop((count.tree, count.layer), None)
        if row is None:
            # Seen for the first time: a layer with people in it "had enough" before; an empty one
            # (a tree not set up yet) never dropped, and its reports reach coordinators anyway.
            had_enough = count.members > 0
            row = LayerCoverage(tree=count.tree, layer=count.layer, checked_at=now)
            session.add(row)
        else:
            had_enough = not row.short
        row.members, row.paused, row.on_duty, row.quorum, row.short, row.checked_at = (
            count.members, count.paused, count.on_duty, count.quorum, count.short, now)
        session.flush()
        if not count.short or not had_enough:
            continue
        claimed = session.execute(update(LayerCoverage).where(
            LayerCoverage.id == row.id,
            or_(LayerCoverage.warned_at.is_(None), LayerCoverage.warned_at <= now - WARN_EVERY),
        ).values(warned_at=now))
        if getattr(claimed, "rowcount", 0) != 1:
            continue
        for person in coordinators(session, cipher):
            texts.append(outbox.Text(
                to=outbox.SealedNumber(person.phone_index, person.phone_token),
                body=render("duty.short", person.language, layer=count.label, on_duty=count.on_duty,
                            quorum=count.quorum),
                purpose=Purpose.DUTY, member_id=person.id,
                dedupe_key=f"duty_short:{count.tree}:{count.layer}:{int(now.timestamp())}:{person.id}"))
    for gone in stored.values():  # a layer the trees file no longer has
        session.delete(gone)
    return outbox.record(session, cipher, texts, now)


def short_layers(session: Session) -> list[LayerCoverage]:
    """Layers the last check found short of people on duty (what the console shows)."""
    return list(session.scalars(select(LayerCoverage).where(LayerCoverage.short.is_(True))
                                .order_by(LayerCoverage.tree, LayerCoverage.layer)).all())
