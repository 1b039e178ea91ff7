"""Members: people on the network's lists. No field here records immigration status or
anything like it; the phone number, name, roles and places in the trees are stored only
encrypted, found by a blind index (the number) or keyed tags (roles and tree layers)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from rapidresponse.db import Base, UTCDateTime, utcnow


class MemberStatus(str, Enum):
    PENDING = "pending"  # texted JOIN, has not confirmed yet
    ACTIVE = "active"
    OPTED_OUT = "opted_out"  # STOP: nothing but the STOP confirmation reaches them


class Channel(str, Enum):
    """How a member gets alerts: texts (the default), calls, or both. Set by CSV import or by
    texting CALL ME / TEXT ME; a number found to be a landline is switched to voice."""

    SMS = "sms"
    VOICE = "voice"
    BOTH = "both"

    @property
    def texts(self) -> bool:
        return self is not Channel.VOICE

    @property
    def calls(self) -> bool:
        return self is not Channel.SMS


class Role(str, Enum):
    MEMBER = "member"
    RESPONDER = "responder"
    COORDINATOR = "coordinator"


class Member(Base):
    __tablename__ = "members"

    id: Mapped[int] = mapped_column(primary_key=True)
    phone_index: Mapped[str] = mapped_column(String(64), unique=True)
    # NULL after STOP: the blind index alone is enough to honour it (registry.opt_out).
    phone_token: Mapped[bytes | None] = mapped_column(LargeBinary)
    name_token: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    language: Mapped[str] = mapped_column(String(8), default="en")
    channel: Mapped[str] = mapped_column(String(8), default=Channel.SMS.value, server_default=Channel.SMS.value)
    # Roles and places in the trees, encrypted and padded to a fixed size (so not even its length
    # tells a responder from a member). What must be asked of many members at once (who is in
    # ice layer 1, who coordinates) is asked of `tags` instead. Read and written by members.registry.
    places_token: Mapped[bytes] = mapped_column(LargeBinary)
    zone: Mapped[str | None] = mapped_column(String(64), default=None)
    status: Mapped[str] = mapped_column(String(16), default=MemberStatus.PENDING.value)
    consented_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    opted_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # Set when the provider says the number can never get a text (21211 invalid, 21614 not mobile,
    # 30006 landline). A landline can still be called: see CALLABLE_CODES.
    undeliverable_code: Mapped[int | None] = mapped_column(Integer, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # PAUSE / PAUSA: no alerts until then (BACK / VUELVO ends it early; the sweep ends it and says so).
    paused_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None, index=True)
    # HOURS 6-14: the member's own duty window, minutes after the network's local midnight (both or
    # neither; the end before the start runs across midnight). Not sensitive, so kept plain like the
    # language: planning a 10,000-member layer reads it without decrypting anything.
    duty_start: Mapped[int | None] = mapped_column(Integer, default=None)
    duty_end: Mapped[int | None] = mapped_column(Integer, default=None)
    # When the member was last alerted: the fair rotation alerts the least recently alerted first.
    last_alerted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    tags: Mapped[list[MemberTag]] = relationship(
        back_populates="member", cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def is_active(self) -> bool:
        return self.status == MemberStatus.ACTIVE.value

    @property
    def reachable(self) -> bool:
        """Whether alerts and broadcasts may be sent to this member at all."""
        return self.is_active and self.undeliverable_code is None


# Numbers that cannot get a text but answer a call (a landline): such a member is alerted by call.
CALLABLE_CODES = frozenset({21614, 30006})


class MemberTag(Base):
    """A keyed tag (privacy/crypto.FieldCipher.tag) of one fact about a member: `role:responder`,
    `ice:1` (tree ice, layer 1). Every member has the same number of rows, padded with random
    tags, so without the key the table tells nobody apart. Indexed: layer planning is one look-up."""

    __tablename__ = "member_tags"
    # A layer's members in id order, a chunk at a time, without sorting the whole layer.
    __table_args__ = (Index("ix_member_tags_tag_member", "tag", "member_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    tag: Mapped[str] = mapped_column(String(64), index=True)

    member: Mapped[Member] = relationship(back_populates="tags")
