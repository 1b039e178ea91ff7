"""Members: people on the network's lists. No field here records immigration status or
anything like it, and the phone number is stored only encrypted, found by its blind index."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from rapidresponse.db import Base, UTCDateTime, utcnow


class MemberStatus(str, Enum):
    PENDING = "pending"  # texted JOIN, has not confirmed yet
    ACTIVE = "active"
    OPTED_OUT = "opted_out"  # STOP: nothing but the STOP confirmation reaches them


class Role(str, Enum):
    MEMBER = "member"
    RESPONDER = "responder"
    COORDINATOR = "coordinator"


class Member(Base):
    __tablename__ = "members"

    id: Mapped[int] = mapped_column(primary_key=True)
    phone_index: Mapped[str] = mapped_column(String(64), unique=True)
    phone_token: Mapped[bytes] = mapped_column(LargeBinary)
    name_token: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    language: Mapped[str] = mapped_column(String(8), default="en")
    roles: Mapped[str] = mapped_column(String(64), default=Role.MEMBER.value)
    zone: Mapped[str | None] = mapped_column(String(64), default=None)
    status: Mapped[str] = mapped_column(String(16), default=MemberStatus.PENDING.value)
    consented_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    opted_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # Set when the provider says the number can never get a text (21211 invalid, 21614 not mobile).
    undeliverable_code: Mapped[int | None] = mapped_column(Integer, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    memberships: Mapped[list[TreeMembership]] = relationship(
        back_populates="member", cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def role_set(self) -> set[str]:
        return {r for r in self.roles.split(",") if r}

    def has_role(self, role: Role) -> bool:
        return role.value in self.role_set

    @property
    def is_active(self) -> bool:
        return self.status == MemberStatus.ACTIVE.value

    @property
    def reachable(self) -> bool:
        """Whether alerts and broadcasts may be sent to this member at all."""
        return self.is_active and self.undeliverable_code is None


class TreeMembership(Base):
    """A member's place in a tree: which layer of the `ice` tree, say. One layer per tree."""

    __tablename__ = "tree_memberships"
    __table_args__ = (UniqueConstraint("member_id", "tree"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    tree: Mapped[str] = mapped_column(String(32), index=True)
    layer: Mapped[int] = mapped_column(Integer)

    member: Mapped[Member] = relationship(back_populates="memberships")
