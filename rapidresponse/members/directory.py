"""The members directory the console shows: search by name or by the last digits of a number,
filters, one member's page, removal, and the CSV export.

Names and numbers are encrypted, so a search opens them here, in the request, and keeps nothing:
a digits-only search decrypts every stored number (a full number is one blind-index look-up
instead), a name search every stored name; only the page shown is decrypted further (roles and
trees). About 6 µs per token: 10,000 members are searched well inside the 300 ms a page may take
(bench/members_page.py). Numbers leave this module masked (…4521), except in the admins' export.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from rapidresponse.members import registry
from rapidresponse.members.models import Member, MemberStatus, MemberTag
from rapidresponse.members.phones import InvalidNumberError, normalize_phone
from rapidresponse.messaging.models import DeliveryStatus, OutboundMessage
from rapidresponse.privacy.crypto import DecryptionError, FieldCipher
from rapidresponse.privacy.masking import mask_phone
from rapidresponse.trees.model import Trees

PAGE_SIZE = 50
QUERY_MAX = 100
STATUS_LABELS = {MemberStatus.ACTIVE.value: "active", MemberStatus.PENDING.value: "pending (not confirmed yet)",
                 MemberStatus.OPTED_OUT.value: "opted out (texted STOP)"}
CHANNEL_LABELS = {"sms": "alerts by text", "voice": "alerts by call", "both": "alerts by text and call"}
UNDELIVERABLE = {21211: "invalid number", 21614: "not a mobile number", 21610: "blocked at the provider (STOP)"}


@dataclass(frozen=True)
class MemberView:
    """What the console shows of a member: never the full number."""

    id: int
    number: str  # masked: …4521, or "(wiped after STOP)"
    name: str | None
    status: str
    status_label: str
    language: str
    zone: str | None
    roles: list[str]  # without the "member" everyone has
    trees: dict[str, int]
    channel: str  # sms, voice or both
    undeliverable: str | None
    joined_at: datetime | None
    opted_out_at: datetime | None

    @property
    def channel_label(self) -> str:
        return CHANNEL_LABELS.get(self.channel, self.channel)


@dataclass(frozen=True)
class Found:
    members: list[MemberView]
    total: int
    page: int
    pages: int
    how: str  # "all", "number", "last digits", "name": what the query was read as


def fold(text: str) -> str:
    """Case- and accent-insensitive form for matching names ('José' ~ 'jose')."""
    if text.isascii():  # most names: a fifth of a 10,000-name search went on the general path
        return " ".join(text.lower().split())
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())


def _open(cipher: FieldCipher, token: bytes | None) -> str | None:
    if token is None:
        return None
    try:
        return cipher.decrypt(token)
    except DecryptionError:
        return None


def view(cipher: FieldCipher, member: Member) -> MemberView:
    places = registry.places(cipher, member)
    phone = _open(cipher, member.phone_token)
    return MemberView(
        id=member.id, number=mask_phone(phone) if phone else "(wiped after STOP)",
        name=_open(cipher, member.name_token), status=member.status,
        status_label=STATUS_LABELS.get(member.status, member.status), language=member.language, zone=member.zone,
        roles=sorted(r for r in places.roles if r != "member"), trees=dict(sorted(places.trees.items())),
        channel=member.channel,
        undeliverable=(UNDELIVERABLE.get(member.undeliverable_code, f"error {member.undeliverable_code}")
                       if member.undeliverable_code is not None else None),
        joined_at=member.consented_at or member.created_at, opted_out_at=member.opted_out_at,
    )


def _filtered(query: Select[int], cipher: FieldCipher, trees: Trees, *, status: str | None,
              tree: str | None) -> Select[int]:
    if status:
        query = query.where(Member.status == status)
    if tree and tree in trees:
        tags = [registry.layer_tag(cipher, tree, layer.number) for layer in trees.get(tree).layers]
        query = query.where(Member.tags.any(MemberTag.tag.in_(tags)))
    return query


def matching_ids(session: Session, cipher: FieldCipher, trees: Trees, q: str, *, region: str,
                 status: str | None = None, tree: str | None = None) -> tuple[list[int], str]:
    """Ids of the members the query finds (newest first), and how the query was read."""
    q = q.strip()[:QUERY_MAX]
    ids = _filtered(select(Member.id), cipher, trees, status=status, tree=tree).order_by(Member.id.desc())
    if not q:
        return list(session.scalars(ids)), "all"
    # Filters narrow the scan: only these members' tokens are opened (all of them when none).
    wanted = set(session.scalars(ids)) if status or tree else None
    digits = "".join(c for c in q if c.isdigit())
    if digits and not any(c.isalpha() for c in q):
        if len(digits) >= 10:
            try:
                phone = normalize_phone(q, region)
            except InvalidNumberError:
                pass
            else:
                return list(session.scalars(ids.where(Member.phone_index == cipher.blind_index(phone)))), "number"
        numbers = session.execute(select(Member.id, Member.phone_token).where(Member.phone_token.is_not(None))
                                  .order_by(Member.id.desc()))
        return [mid for mid, token in numbers if (wanted is None or mid in wanted)
                and (_open(cipher, token) or "").endswith(digits)], "last digits"
    needle = fold(q)
    names = session.execute(select(Member.id, Member.name_token).where(Member.name_token.is_not(None))
                            .order_by(Member.id.desc()))
    return [mid for mid, token in names if (wanted is None or mid in wanted)
            and needle in fold(_open(cipher, token) or "")], "name"


def search(session: Session, cipher: FieldCipher, trees: Trees, q: str = "", *, region: str, page: int = 1,
           status: str | None = None, tree: str | None = None, size: int = PAGE_SIZE) -> Found:
    """One page of the members the query finds, newest first, numbers masked."""
    ids, how = matching_ids(session, cipher, trees, q, region=region, status=status, tree=tree)
    pages = max(1, -(-len(ids) // size))
    page = min(max(1, page), pages)
    shown = ids[(page - 1) * size : page * size]
    by_id = {m.id: m for m in session.scalars(select(Member).where(Member.id.in_(shown)))} if shown else {}
    return Found([view(cipher, by_id[i]) for i in shown if i in by_id], len(ids), page, pages, how)


def count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Member)) or 0)


def remove(session: Session, cipher: FieldCipher, member: Member, now: datetime) -> int:
    """Delete a member and their places in the trees; texts to them not yet handed to the provider
    are cancelled first (they would otherwise still go out). Returns how many tree places they had.
    The console's Remove and `rapidresponse members remove` both end here."""
    layers = len(registry.places(cipher, member).trees)
    session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.member_id == member.id, OutboundMessage.status == DeliveryStatus.PENDING.value)
        .values(status=DeliveryStatus.CANCELLED.value, status_at=now)
    )
    session.delete(member)
    return layers


EXPORT_COLUMNS = ("phone", "name", "language", "zone", "roles", "trees", "channel")


def export_csv(session: Session, cipher: FieldCipher) -> tuple[str, int]:
    """Every active member as a CSV `rapidresponse members import` (and the console's import) reads
    back: full numbers, so only admins get it, and it is audited. Pending and opted-out members are
    left out (they have not consented, or asked to be left alone)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    count = 0
    for member in session.scalars(select(Member).where(Member.status == MemberStatus.ACTIVE.value,
                                                       Member.phone_token.is_not(None)).order_by(Member.id)):
        places = registry.places(cipher, member)
        writer.writerow((
            _open(cipher, member.phone_token), _open(cipher, member.name_token) or "", member.language,
            member.zone or "", ";".join(sorted(r for r in places.roles if r != "member")),
            ";".join(f"{t}:{n}" for t, n in sorted(places.trees.items())), member.channel,
        ))
        count += 1
    return out.getvalue(), count
