"""Every text in and out, stored before it is acted on. Bodies and numbers are encrypted."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from rapidresponse.db import Base, UTCDateTime, utcnow


class Purpose(str, Enum):
    """Why a text is sent; decides its queue and its priority at the rate limiter."""

    REPLY = "reply"
    ALERT = "alert"
    STAND_DOWN = "stand_down"
    COVERED = "covered"
    RELAY = "relay"
    WELCOME = "welcome"
    BROADCAST = "broadcast"
    DUTY = "duty"  # a pause that ended, a layer short of people on duty
    CAMPAIGN = "campaign"  # a campaign's ask to one who joined, its thanks, its summary
    CAMPAIGN_CALL = "campaign_call"  # our call to a member, bridged to a campaign's target


class Channel(str, Enum):
    """How one outbound message reaches its member: a text, or a call that speaks it."""

    SMS = "sms"
    VOICE = "voice"


class DeliveryStatus(str, Enum):
    """An outbound text's life. Order matters: a status callback never moves one backwards."""

    PENDING = "pending"  # intent recorded, provider not yet called
    SENDING = "sending"  # claimed by a worker; provider call may be in flight
    QUEUED = "queued"  # provider accepted it
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    EXPIRED = "expired"  # validity ran out before it could be sent; never sent
    CANCELLED = "cancelled"  # no longer wanted (member opted out, incident stood down)


# Rank for "never move backwards": terminal outcomes share the top rank.
STATUS_RANK = {
    DeliveryStatus.PENDING: 0,
    DeliveryStatus.SENDING: 1,
    DeliveryStatus.QUEUED: 2,
    DeliveryStatus.SENT: 3,
    DeliveryStatus.DELIVERED: 4,
    DeliveryStatus.UNDELIVERED: 4,
    DeliveryStatus.FAILED: 4,
    DeliveryStatus.EXPIRED: 4,
    DeliveryStatus.CANCELLED: 4,
}


class InboundMessage(Base):
    __tablename__ = "inbound_messages"
    __table_args__ = (Index("ix_inbound_provider_deleted_received", "provider_deleted_at", "received_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    message_sid: Mapped[str] = mapped_column(String(64), unique=True)
    from_index: Mapped[str] = mapped_column(String(64), index=True)
    from_token: Mapped[bytes] = mapped_column(LargeBinary)
    body_token: Mapped[bytes] = mapped_column(LargeBinary)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # What the keyword engine made of it (join, stop, report, ...), once handled.
    outcome: Mapped[str | None] = mapped_column(String(32), default=None)
    # Deleting the provider's copy (messaging/deletes.py): once done, message_sid holds a keyed
    # hash of the SID instead of the SID.
    provider_deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    delete_after: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    delete_attempts: Mapped[int] = mapped_column(Integer, default=0)


class OutboundMessage(Base):
    """A send intent, recorded before the provider is called; `dedupe_key` makes it exactly once."""

    __tablename__ = "outbound_messages"
    __table_args__ = (
        Index("ix_outbound_status_claimed", "status", "claimed_at"),
        Index("ix_outbound_to_purpose_created", "to_index", "purpose", "created_at"),
        Index("ix_outbound_broadcast_status", "broadcast_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(128), unique=True)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"), index=True)
    to_index: Mapped[str] = mapped_column(String(64))
    to_token: Mapped[bytes] = mapped_column(LargeBinary)
    body_token: Mapped[bytes] = mapped_column(LargeBinary)
    purpose: Mapped[str] = mapped_column(String(16))
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    layer: Mapped[int | None] = mapped_column(Integer, default=None)
    # A broadcast's texts are sent by its own send chain (broadcasts/sending.py), not the sweep's requeue.
    broadcast_id: Mapped[int | None] = mapped_column(ForeignKey("broadcasts.id", ondelete="CASCADE"), default=None)
    segments: Mapped[int] = mapped_column(Integer, default=1)
    # A voice row is a call speaking `body` (alertcalls/): same claim, lease and status path as a text.
    channel: Mapped[str] = mapped_column(String(8), default=Channel.SMS.value, server_default=Channel.SMS.value)
    # The key an alert call's answerer pressed (1 or 2), set once: a retried keypress acts once.
    keypress: Mapped[str | None] = mapped_column(String(1), default=None)
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.PENDING.value)
    provider_sid: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    error_code: Mapped[int | None] = mapped_column(Integer, default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # When the sweep last queued it again (texts whose first job was lost).
    requeued_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    status_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # A raid alert is useless an hour late: past this it is dropped, here and at the provider.
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # Deleting the provider's copy (messaging/deletes.py): provider_sid is NULL once done.
    delete_after: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    delete_attempts: Mapped[int] = mapped_column(Integer, default=0)


class SimulatedMessage(Base):
    """What the simulator provider 'sent' (and what was texted in through /simulator)."""

    __tablename__ = "simulated_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    sid: Mapped[str] = mapped_column(String(64), unique=True)
    direction: Mapped[str] = mapped_column(String(8))  # in / out
    phone_index: Mapped[str] = mapped_column(String(64), index=True)
    phone_token: Mapped[bytes] = mapped_column(LargeBinary)
    body_token: Mapped[bytes] = mapped_column(LargeBinary)
    kind: Mapped[str] = mapped_column(String(8), default="sms")  # sms / call
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
