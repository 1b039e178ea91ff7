"""Hotline calls, stored before they are answered, and the little kept of their recordings."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

from sqlalchemy import Boolean, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from rapidresponse.db import Base, UTCDateTime, utcnow
from rapidresponse.privacy.crypto import FieldCipher


class CallOutcome(str, Enum):
    """What became of a hotline call (NULL while it is in progress)."""

    REPORTED = "reported"  # a recording opened an incident
    MISSED = "missed"  # the caller hung up before saying anything: coordinators see it
    # A call that needed nothing more (the coordinator menu). A neutral word: a copy of the
    # database must not tell which calls came from organisers.
    DONE = "done"
    CALLED_BACK = "called_back"  # a missed call a coordinator has dealt with


class InboundCall(Base):
    """One call to the hotline. The number is encrypted and found by its blind index; a withheld
    caller ID keeps neither (there is nothing to call back, and nothing that may be one)."""

    __tablename__ = "inbound_calls"
    __table_args__ = (Index("ix_inbound_calls_outcome_received", "outcome", "received_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(64), unique=True)
    from_index: Mapped[str | None] = mapped_column(String(64), index=True, default=None)
    from_token: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    withheld: Mapped[bool] = mapped_column(Boolean, default=False)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    outcome: Mapped[str | None] = mapped_column(String(16), default=None)
    # The report this call opened: one per call, however often Twilio retries the recording.
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="SET NULL"), unique=True,
                                                    default=None)
    # A missed call dealt with: by which console coordinator, when.
    handled_by: Mapped[int | None] = mapped_column(Integer, default=None)
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # The call's record at the provider (both numbers, when, how long) is deleted once the call is
    # over (messaging/deletes.py); `call_sid` then holds forgotten_call_sid(), not Twilio's id.
    provider_deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    delete_after: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    delete_attempts: Mapped[int] = mapped_column(Integer, default=0)


def forgotten_call_sid(cipher: FieldCipher, sid: str) -> str:
    """What a hotline call keeps of its CallSid once deleted at the provider: a keyed hash (64 hex
    characters, never a Twilio SID), so a retried webhook still finds the call."""
    return cipher.blind_index("call-sid:" + sid)


class Recording(Base):
    """A recording made on the hotline. The audio stays at the provider until it is deleted there;
    here only its id (encrypted), its length and its transcript (encrypted).

    Every recording Twilio tells us of is stored, even one too short to report: each must be
    deleted at the provider (messaging/deletes.py). `sid_index` recognises a repeated callback."""

    __tablename__ = "recordings"

    id: Mapped[int] = mapped_column(primary_key=True)
    sid_index: Mapped[str] = mapped_column(String(64), unique=True)
    # NULL once deleted at the provider.
    sid_token: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    call_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_calls.id", ondelete="SET NULL"), index=True,
                                                default=None)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="SET NULL"), index=True,
                                                    default=None)
    language: Mapped[str] = mapped_column(String(8), default="en")
    duration_seconds: Mapped[int] = mapped_column(Integer, default=0)
    transcript_token: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    provider_deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    delete_after: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    delete_attempts: Mapped[int] = mapped_column(Integer, default=0)


def recording_sid_index(cipher: FieldCipher, sid: str) -> str:
    """How a recording is recognised (a repeated callback, its transcript) without its id in clear."""
    return cipher.blind_index("recording-sid:" + sid)
