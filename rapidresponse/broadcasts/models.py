"""A broadcast, its text per language, its replies, and reusable templates.

Everything a coordinator wrote is stored encrypted: the texts, the audience (it can name a tree
and layer, which says who responds), a template's name, a member's reply. What stays in clear is
what progress needs: counts, statuses, times and the idempotency key (random, from the form).
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum

from sqlalchemy import Boolean, ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from rapidresponse.db import Base, UTCDateTime, utcnow


class BroadcastStatus(str, Enum):
    PLANNING = "planning"  # recorded; a job is writing one send intent per member
    SENDING = "sending"  # every intent written; the send chain works through them
    DONE = "done"  # nothing left waiting
    CANCELLED = "cancelled"  # a coordinator stopped it; what had not been handed over never goes

    @property
    def is_live(self) -> bool:
        return self in (BroadcastStatus.PLANNING, BroadcastStatus.SENDING)


class Broadcast(Base):
    __tablename__ = "broadcasts"

    id: Mapped[int] = mapped_column(primary_key=True)
    # From the form (a random token made when the form was shown): a double click, a reload, a
    # resubmit after Back all carry it, and the unique constraint lets only one of them in.
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    # A keyed hash of the texts and audience with a 10-minute bucket: two coordinators sending the
    # same broadcast at once (different forms) get one, unless the second says "send anyway" (NULL).
    content_key: Mapped[str | None] = mapped_column(String(80), unique=True, default=None)
    status: Mapped[str] = mapped_column(String(16), default=BroadcastStatus.PLANNING.value)
    drill: Mapped[bool] = mapped_column(Boolean, default=False)
    audience_token: Mapped[bytes] = mapped_column(LargeBinary)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("coordinators.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Planning: members are written in id order, chunk by chunk; a re-run carries on from here.
    planned_through: Mapped[int] = mapped_column(Integer, default=0)
    recipients: Mapped[int] = mapped_column(Integer, default=0)
    segments_total: Mapped[int] = mapped_column(Integer, default=0)
    # The send chain: one job at a time works through the broadcast and queues its successor.
    # `chain` is its fencing token (the sweep starts a new chain when `heartbeat_at` goes stale,
    # and the old one stops at its next step); `heartbeat_at` is bumped by every step.
    chain: Mapped[int] = mapped_column(Integer, default=0)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    cancelled_by: Mapped[int | None] = mapped_column(ForeignKey("coordinators.id", ondelete="SET NULL"))

    texts: Mapped[list[BroadcastText]] = relationship(
        back_populates="broadcast", cascade="all, delete-orphan", lazy="selectin", order_by="BroadcastText.language")


class BroadcastText(Base):
    """What one language receives, exactly as sent (drill marker included); languages with none
    written get the English text."""

    __tablename__ = "broadcast_texts"
    __table_args__ = (UniqueConstraint("broadcast_id", "language"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcasts.id", ondelete="CASCADE"))
    language: Mapped[str] = mapped_column(String(8))
    body_token: Mapped[bytes] = mapped_column(LargeBinary)
    segments: Mapped[int] = mapped_column(Integer, default=1)
    # True when no text was written for this language and it receives the English one.
    fallback: Mapped[bool] = mapped_column(Boolean, default=False)

    broadcast: Mapped[Broadcast] = relationship(back_populates="texts")


class BroadcastReply(Base):
    """A member's answer to a broadcast: its thread. Append-only; the member is kept encrypted
    (the console shows their masked number), the body too."""

    __tablename__ = "broadcast_replies"

    id: Mapped[int] = mapped_column(primary_key=True)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcasts.id", ondelete="CASCADE"), index=True)
    inbound_message_id: Mapped[int | None] = mapped_column(
        ForeignKey("inbound_messages.id", ondelete="SET NULL"), unique=True)
    member_token: Mapped[bytes] = mapped_column(LargeBinary)
    body_token: Mapped[bytes] = mapped_column(LargeBinary)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class BroadcastTemplate(Base):
    """A broadcast saved for reuse ("know your rights", "meeting tonight"): name and texts encrypted."""

    __tablename__ = "broadcast_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    name_token: Mapped[bytes] = mapped_column(LargeBinary)
    # JSON {language: text}, encrypted.
    texts_token: Mapped[bytes] = mapped_column(LargeBinary)
    drill: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("coordinators.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
