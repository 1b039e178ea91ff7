"""A call-in campaign, its targets, its scripts, and the calls bridged to its targets.

What a coordinator wrote is encrypted (title, scripts, audience, target names and numbers). What the
campaign page shows are counts kept on the rows themselves, so nothing about who called whom is
needed to show them: a bridged call's member link is dropped when the call ends, and the call rows
go at the retention purge (privacy/retention.py).
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum

from sqlalchemy import Boolean, ForeignKey, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from rapidresponse.db import Base, UTCDateTime, utcnow


class CampaignStatus(str, Enum):
    DRAFT = "draft"  # created; nobody asked yet
    RUNNING = "running"  # the ask went out (a broadcast); CALL / DONE count
    ENDED = "ended"  # its window ended, or a coordinator ended it


class Outcome(str, Enum):
    """What a call came to: reported with DONE (voicemail, talked, hung up), or a bridge's end."""

    TALKED = "talked"
    VOICEMAIL = "voicemail"
    HUNG_UP = "hung_up"
    UNSAID = "unsaid"  # DONE with nothing after it
    BUSY = "busy"  # the target's line was busy or did not answer (bridged calls only)


class Campaign(Base):
    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    # From the form (random, made when the form was shown): a double click creates one campaign.
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16), default=CampaignStatus.DRAFT.value)
    title_token: Mapped[bytes] = mapped_column(LargeBinary)
    # JSON {language: script}, encrypted; the first line of a language's script is read on the call.
    scripts_token: Mapped[bytes] = mapped_column(LargeBinary)
    audience_token: Mapped[bytes] = mapped_column(LargeBinary)
    # Members may also join by texting ACTION / ACCION (keywords/vocab.py) while it runs.
    join_by_keyword: Mapped[bool] = mapped_column(Boolean, default=False)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime)
    window_end: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("coordinators.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # The ask and script, sent as a broadcast (its idempotency key is `campaign:{id}`): once per member.
    broadcast_id: Mapped[int | None] = mapped_column(ForeignKey("broadcasts.id", ondelete="SET NULL"), default=None)
    # Counts, the campaign's only record of what happened.
    calls_bridged: Mapped[int] = mapped_column(Integer, default=0)
    bridged_seconds: Mapped[int] = mapped_column(Integer, default=0)
    calls_busy: Mapped[int] = mapped_column(Integer, default=0)
    done_talked: Mapped[int] = mapped_column(Integer, default=0)
    done_voicemail: Mapped[int] = mapped_column(Integer, default=0)
    done_hung_up: Mapped[int] = mapped_column(Integer, default=0)
    done_unsaid: Mapped[int] = mapped_column(Integer, default=0)
    joined: Mapped[int] = mapped_column(Integer, default=0)  # asked because they texted ACTION
    summary_sent: Mapped[bool] = mapped_column(Boolean, default=False)

    targets: Mapped[list[CampaignTarget]] = relationship(
        back_populates="campaign", cascade="all, delete-orphan", lazy="selectin", order_by="CampaignTarget.position")


class CampaignTarget(Base):
    """Who is called: an office's name and number (public, but kept encrypted like all we store)."""

    __tablename__ = "campaign_targets"
    __table_args__ = (UniqueConstraint("campaign_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    name_token: Mapped[bytes] = mapped_column(LargeBinary)
    number_token: Mapped[bytes] = mapped_column(LargeBinary)
    calls_bridged: Mapped[int] = mapped_column(Integer, default=0)

    campaign: Mapped[Campaign] = relationship(back_populates="targets")


class CampaignHour(Base):
    """Calls per hour for the chart: bridged calls and DONE reports, counted per clock hour."""

    __tablename__ = "campaign_hours"
    __table_args__ = (UniqueConstraint("campaign_id", "hour"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    hour: Mapped[datetime] = mapped_column(UTCDateTime)
    calls: Mapped[int] = mapped_column(Integer, default=0)


class CallState(str, Enum):
    CALLING = "calling"  # we are calling the member
    HOLDING = "holding"  # the member is on the line; every line to the targets is taken
    BRIDGING = "bridging"  # a slot on a target is held; the <Dial> is ringing or talking
    ENDED = "ended"


class CampaignCall(Base):
    """One member's call to a campaign (our call to them, the `message_id` outbound voice row) and
    the bridge to a target. The member link is kept only while the call lasts (for the thanks
    text); the row itself goes at the retention purge. `dial_sid` is the bridged leg at the
    provider, deleted there like every other call (messaging/deletes.py)."""

    __tablename__ = "campaign_calls"
    __table_args__ = (Index("ix_campaign_calls_target_state", "target_id", "state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("outbound_messages.id", ondelete="CASCADE"), unique=True)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"), default=None)
    target_id: Mapped[int | None] = mapped_column(ForeignKey("campaign_targets.id", ondelete="CASCADE"),
                                                  default=None)
    state: Mapped[str] = mapped_column(String(16), default=CallState.CALLING.value)
    holds: Mapped[int] = mapped_column(Integer, default=0)  # times told to hold for a free line
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    bridged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None, index=True)
    outcome: Mapped[str | None] = mapped_column(String(16), default=None)
    seconds: Mapped[int | None] = mapped_column(Integer, default=None)
    dial_sid: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    delete_after: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    delete_attempts: Mapped[int] = mapped_column(Integer, default=0)
