"""Incidents, their layers in flight, acknowledgements, and the append-only thread."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, LargeBinary, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from rapidresponse.db import Base, UTCDateTime, utcnow
from rapidresponse.incidents.states import IncidentStatus, LayerStatus


class Incident(Base):
    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(4))
    # Equal to `code` while the incident is open, NULL once closed: keeps open codes unique
    # on every backend (several NULLs never collide) while closed codes are reused.
    open_code: Mapped[str | None] = mapped_column(String(4), unique=True)
    status: Mapped[str] = mapped_column(String(16), default=IncidentStatus.REPORTED.value)
    zone: Mapped[str | None] = mapped_column(String(64), default=None)
    text_token: Mapped[bytes] = mapped_column(LargeBinary)
    reporter_index: Mapped[str] = mapped_column(String(64), index=True)
    reporter_token: Mapped[bytes] = mapped_column(LargeBinary)
    reporter_member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    # The inbound text that opened it: a retried webhook finds the incident instead of opening another.
    inbound_message_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id"), unique=True)
    # The tree as it was when the incident opened (trees.freeze), encrypted: which tree and whose
    # layers say what kind of response this is. Read with incidents.service.plan_of.
    plan_token: Mapped[bytes] = mapped_column(LargeBinary)
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    # Started by a coordinator as practice (drills/): the real tree, every text marked DRILL.
    drill: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    unverified_escalation: Mapped[bool] = mapped_column(Boolean, default=False)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set when enough responders acknowledged: later layers are not alerted.
    covered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    layers: Mapped[list[IncidentLayer]] = relationship(
        back_populates="incident", order_by="IncidentLayer.number", lazy="selectin"
    )

    @property
    def is_open(self) -> bool:
        return IncidentStatus(self.status).is_open


class IncidentLayer(Base):
    __tablename__ = "incident_layers"
    __table_args__ = (UniqueConstraint("incident_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=LayerStatus.WAITING.value)
    alerted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None, index=True)
    recipients: Mapped[int] = mapped_column(Integer, default=0)
    # A big layer is planned a chunk at a time (escalation/service.py): which pass (the report's
    # zone first, then the rest) and the last member id written; NULL once every member is in.
    plan_pass: Mapped[int | None] = mapped_column(Integer, default=None)
    planned_through: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    planning_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)  # the planner's heartbeat
    sending_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)  # last chunk claimed to send
    # A layer alerted in waves (trees file `wave = N`): how many waves went, and when the next is due
    # if the quorum is not reached by then (NULL: no more waves, or a layer alerted all at once).
    waves_sent: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_wave_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None, index=True)

    incident: Mapped[Incident] = relationship(back_populates="layers")


class Participant(Base):
    """A member as one incident's thread names them: by a number ("responder 3"), never by id or
    phone. The label is encrypted; the member behind it is found by a keyed tag (only with
    DATA_KEY) and resolved, for a coordinator reading the thread, from an encrypted member id."""

    __tablename__ = "incident_participants"
    __table_args__ = (UniqueConstraint("incident_id", "number"), UniqueConstraint("incident_id", "member_tag"))

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    member_tag: Mapped[str | None] = mapped_column(String(64), default=None)
    member_token: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    label_token: Mapped[bytes] = mapped_column(LargeBinary)


class Acknowledgement(Base):
    """A responder's answer to an incident: yes (on my way) or no. One per participant per incident;
    which member answered is known only through the participant, with the key."""

    __tablename__ = "acknowledgements"
    __table_args__ = (UniqueConstraint("incident_id", "participant_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("incident_participants.id", ondelete="CASCADE"))
    layer: Mapped[int | None] = mapped_column(Integer, default=None)
    answer: Mapped[str] = mapped_column(String(8))  # yes / no
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ThreadEvent(Base):
    """One line of an incident's thread. Append-only. A member's line names its participant (a
    pseudonym); `actor` is only for others (system, a console user, the reporter), never a number."""

    __tablename__ = "thread_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(24))
    actor: Mapped[str] = mapped_column(String(64), default="")
    participant_id: Mapped[int | None] = mapped_column(
        ForeignKey("incident_participants.id", ondelete="SET NULL"), default=None)
    body_token: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
