"""The member registry: find, join, confirm, opt out and back in, language, zone, roles."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from rapidresponse.members.models import Member, MemberStatus, Role, TreeMembership
from rapidresponse.privacy.crypto import FieldCipher

ZONE = re.compile(r"^[a-z0-9][a-z0-9 _\-]{0,63}$")


class MemberError(ValueError):
    """A member operation was refused; the message says why (never contains a number)."""


@dataclass(frozen=True)
class Recipient:
    """Just what a text to a member needs (a layer can be thousands: no full ORM objects)."""

    id: int
    phone_index: str
    phone_token: bytes
    language: str
    zone: str | None


RECIPIENT_COLUMNS = (Member.id, Member.phone_index, Member.phone_token, Member.language, Member.zone)


def recipients(session: Session, query: Select[int, str, bytes, str, str | None]) -> list[Recipient]:
    """Run a select of RECIPIENT_COLUMNS into Recipients, in the query's order."""
    return [Recipient(*row) for row in session.execute(query).all()]


def normalize_zone(raw: str) -> str:
    zone = " ".join(raw.strip().lower().split())
    if not ZONE.match(zone):
        raise MemberError("a zone is up to 64 letters, digits, spaces or dashes")
    return zone


def parse_roles(raw: str | Iterable[str]) -> str:
    parts = raw.replace(";", ",").split(",") if isinstance(raw, str) else list(raw)
    roles = {p.strip().lower() for p in parts if p.strip()} or {Role.MEMBER.value}
    valid = {r.value for r in Role}
    unknown = roles - valid
    if unknown:
        raise MemberError(f"unknown role {sorted(unknown)[0]!r}; roles are {', '.join(sorted(valid))}")
    roles.add(Role.MEMBER.value)
    return ",".join(sorted(roles))


def find_by_phone(session: Session, cipher: FieldCipher, phone: str) -> Member | None:
    return session.scalar(select(Member).where(Member.phone_index == cipher.blind_index(phone)))


def new_member(cipher: FieldCipher, phone: str, *, language: str = "en", zone: str | None = None,
               status: MemberStatus = MemberStatus.PENDING, roles: str = Role.MEMBER.value,
               name: str | None = None) -> Member:
    return Member(
        phone_index=cipher.blind_index(phone),
        phone_token=cipher.encrypt(phone),
        name_token=cipher.encrypt(name) if name else None,
        language=language,
        zone=zone,
        status=status.value,
        roles=roles,
    )


def join(session: Session, cipher: FieldCipher, phone: str, *, language: str, zone: str | None,
         now: datetime) -> tuple[Member, bool]:
    """JOIN: a new or returning number becomes pending until it confirms. Returns (member, already_active)."""
    member = find_by_phone(session, cipher, phone)
    if member is None:
        member = new_member(cipher, phone, language=language, zone=zone)
        session.add(member)
        session.flush()
        return member, False
    if zone:
        member.zone = zone
    if member.status == MemberStatus.ACTIVE.value:
        return member, True
    member.status = MemberStatus.PENDING.value
    member.language = language
    return member, False


def confirm(member: Member, now: datetime) -> None:
    """YES after JOIN: double opt-in complete."""
    member.status = MemberStatus.ACTIVE.value
    member.consented_at = now
    member.opted_out_at = None


def opt_out(member: Member, now: datetime) -> None:
    """STOP: out at once, and out until START. Texts not yet sent to them are cancelled by the caller."""
    member.status = MemberStatus.OPTED_OUT.value
    member.opted_out_at = now


def opt_back_in(member: Member, now: datetime) -> None:
    """START / UNSTOP / YES after STOP: they asked for it, which is consent."""
    member.status = MemberStatus.ACTIVE.value
    member.consented_at = now
    member.opted_out_at = None
    if member.undeliverable_code == 21610:
        member.undeliverable_code = None


def set_memberships(member: Member, trees: dict[str, int]) -> None:
    """Put the member in exactly these tree:layer places.

    Changed in place, not replaced: a delete and an insert of the same (member, tree) in one
    flush would trip the one-layer-per-tree constraint.
    """
    wanted = dict(trees)
    member.memberships = [m for m in member.memberships if m.tree in wanted]
    for membership in member.memberships:
        membership.layer = wanted.pop(membership.tree)
    member.memberships.extend(TreeMembership(tree=t, layer=n) for t, n in sorted(wanted.items()))
