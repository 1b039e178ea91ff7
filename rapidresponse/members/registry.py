"""The member registry: find, join, confirm, opt out and back in, language, zone, roles, trees.

Roles and places in the trees are private: stored as one encrypted, padded token per member
(read with `places`), and as keyed tags (`role_tag`, `layer_tag`) for the questions asked of
many members at once. Both are written only by `set_places`.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session, lazyload

from rapidresponse.members.models import Member, MemberStatus, MemberTag, Role
from rapidresponse.privacy.crypto import FieldCipher

ZONE = re.compile(r"^[a-z0-9][a-z0-9 _\-]{0,63}$")
# Every member has at least this many tag rows (real ones and random fillers) and a places token
# padded to a multiple of PLACES_BLOCK bytes: neither the row count nor the token's length tells
# a responder from a member. (2 roles + one layer per tree: 8 covers five trees.)
TAG_SLOTS = 8
PLACES_BLOCK = 256


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


def recipients(session: Session, query: Select[int, str, bytes | None, str, str | None]) -> list[Recipient]:
    """Run a select of RECIPIENT_COLUMNS into Recipients, in the query's order. A member with no
    stored number (wiped by STOP, not texted from since) cannot be reached and is left out."""
    return [Recipient(member_id, index, token, language, zone)
            for member_id, index, token, language, zone in session.execute(query).all() if token is not None]


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
    return find_by_index(session, cipher.blind_index(phone))


def find_by_index(session: Session, phone_index: str) -> Member | None:
    """The member whose number has this keyed hash (an inbound text's sender, hashed once)."""
    member: Member | None = session.scalar(_by_index(), {"phone_index": phone_index})
    return member


@cache
def _by_index() -> Select[Member]:
    # Built once (every inbound text asks). Tags load when something asks for them: most texts
    # (HELP, YES, a relay) never do, and an inbound text should not pay a second query for them.
    return select(Member).where(Member.phone_index == bindparam("phone_index")).options(lazyload(Member.tags))


def new_member(cipher: FieldCipher, phone: str, *, language: str = "en", zone: str | None = None,
               status: MemberStatus = MemberStatus.PENDING, roles: str = Role.MEMBER.value,
               name: str | None = None, trees: dict[str, int] | None = None) -> Member:
    member = Member(
        phone_index=cipher.blind_index(phone),
        phone_token=cipher.encrypt(phone),
        name_token=cipher.encrypt(name) if name else None,
        language=language,
        zone=zone,
        status=status.value,
    )
    set_places(cipher, member, roles=roles, trees=trees or {})
    return member


@dataclass(frozen=True)
class Places:
    """A member's roles and places in the trees (tree name -> layer number), decrypted."""

    roles: frozenset[str]
    trees: dict[str, int]


def role_tag(cipher: FieldCipher, role: Role) -> str:
    return cipher.tag(f"role:{role.value}")


def layer_tag(cipher: FieldCipher, tree: str, layer: int) -> str:
    return cipher.tag(f"{tree}:{layer}")


def places(cipher: FieldCipher, member: Member) -> Places:
    return places_in(cipher, member.places_token)


def places_in(cipher: FieldCipher, token: bytes) -> Places:
    data = json.loads(cipher.decrypt(token))
    return Places(roles=frozenset(data["roles"]), trees={str(t): int(n) for t, n in data["trees"].items()})


def has_role(cipher: FieldCipher, member: Member, role: Role) -> bool:
    if role == Role.MEMBER:
        return True
    return role_tag(cipher, role) in {t.tag for t in member.tags}


def in_layers(cipher: FieldCipher, member: Member, tree: str, layers: Iterable[int]) -> bool:
    """Whether the member is in one of these layers of the tree."""
    held = {t.tag for t in member.tags}
    return any(layer_tag(cipher, tree, n) in held for n in layers)


def seal_places(cipher: FieldCipher, roles: Iterable[str], trees: dict[str, int]) -> bytes:
    """The encrypted places token: JSON padded with spaces to a multiple of PLACES_BLOCK."""
    plain = json.dumps({"roles": sorted(roles), "trees": dict(sorted(trees.items()))})
    return cipher.encrypt(plain.ljust((len(plain) // PLACES_BLOCK + 1) * PLACES_BLOCK))


def tags_for(cipher: FieldCipher, roles: Iterable[str], trees: dict[str, int]) -> set[str]:
    """The real tags for these roles and places (every member holds `member`: it gets none)."""
    wanted = {role_tag(cipher, Role(r)) for r in roles if r != Role.MEMBER.value}
    return wanted | {layer_tag(cipher, t, n) for t, n in trees.items()}


def filler_tag() -> str:
    """A random tag, as long as a real one and matching nothing."""
    return secrets.token_hex(32)


def set_places(cipher: FieldCipher, member: Member, *, roles: str | None = None,
               trees: dict[str, int] | None = None) -> None:
    """Give the member these roles (a parse_roles string) and/or exactly these tree:layer places.

    Tag rows are rewritten in place, never deleted and re-added, and never fewer than TAG_SLOTS.
    """
    current = places(cipher, member) if member.places_token else Places(frozenset({Role.MEMBER.value}), {})
    role_set = frozenset(r for r in roles.split(",") if r) if roles is not None else current.roles
    tree_map = dict(trees) if trees is not None else current.trees
    member.places_token = seal_places(cipher, role_set, tree_map)
    wanted = tags_for(cipher, role_set, tree_map)
    free = []
    for row in member.tags:
        if row.tag in wanted:
            wanted.discard(row.tag)
        else:
            free.append(row)
    for row in free:
        row.tag = wanted.pop() if wanted else filler_tag()
    member.tags.extend(MemberTag(tag=t) for t in sorted(wanted))
    while len(member.tags) < TAG_SLOTS:
        member.tags.append(MemberTag(tag=filler_tag()))


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


def opt_out(cipher: FieldCipher, member: Member, now: datetime) -> None:
    """STOP: out at once, and out until START. Texts not yet sent to them are cancelled by the caller.

    Only what honouring STOP needs is kept: the blind index of the number, the status and when
    (and the language they are answered in). Name, encrypted number, zone, roles and tree places
    are wiped at once (the tag rows turn into fillers, so their count gives nothing away); someone
    who comes back with START is a plain member again, and a coordinator puts them back in trees.
    """
    member.status = MemberStatus.OPTED_OUT.value
    member.opted_out_at = now
    member.phone_token = None
    member.name_token = None
    member.zone = None
    set_places(cipher, member, roles=Role.MEMBER.value, trees={})


def restore_number(cipher: FieldCipher, member: Member, phone: str) -> None:
    """Someone back after STOP texts from their number again: keep it, encrypted, to reach them."""
    if member.phone_token is None and member.status != MemberStatus.OPTED_OUT.value:
        member.phone_token = cipher.encrypt(phone)


def opt_back_in(member: Member, now: datetime) -> None:
    """START / UNSTOP / YES after STOP: they asked for it, which is consent."""
    member.status = MemberStatus.ACTIVE.value
    member.consented_at = now
    member.opted_out_at = None
    if member.undeliverable_code == 21610:
        member.undeliverable_code = None

