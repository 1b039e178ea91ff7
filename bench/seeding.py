"""Members for the benchmarks, written in bulk the way the registry would write them (encrypted
number, sealed roles and tree places, keyed tags padded with fillers)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import insert, select

from rapidresponse.members import registry
from rapidresponse.members.models import Member, MemberTag
from rapidresponse.services import Services

ROLES = ["member", "responder"]


def seed_members(svc: Services, phones: Sequence[str], places: Sequence[dict[str, int]],
                 languages: Sequence[str] | None = None) -> None:
    """Active responders, one per phone, each in the tree layers `places` gives."""
    cipher, now = svc.cipher, datetime.now(UTC)
    rows = [{"phone_index": cipher.blind_index(phone), "phone_token": cipher.encrypt(phone),
             "language": languages[i] if languages else "en",
             "places_token": registry.seal_places(cipher, ROLES, places[i]),
             "status": "active", "consented_at": now, "created_at": now}
            for i, phone in enumerate(phones)]
    with svc.db.session() as session:
        session.execute(insert(Member), rows)
        ids = list(session.scalars(select(Member.id).order_by(Member.id)))[-len(rows):]
        tags = []
        for member_id, where in zip(ids, places, strict=True):
            real = sorted(registry.tags_for(cipher, ROLES, where))
            real += [registry.filler_tag() for _ in range(registry.TAG_SLOTS - len(real))]
            tags += [{"member_id": member_id, "tag": tag} for tag in real]
        session.execute(insert(MemberTag), tags)
