"""A debrief owed to one responder of one closed incident, and what they answered.

Written when the incident closes, while its participants still name members (closing forgets
them): who is asked is kept only as an encrypted member id and a keyed tag (a copy of the
database without DATA_KEY cannot tell who went). Deleted with its incident by retention.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from rapidresponse.db import Base, UTCDateTime, utcnow


class DebriefAnswer:
    """What a reply said (stored values)."""

    FINE = "fine"  # 1
    SUPPORT = "support"  # 2: a follow-up item for coordinators
    TEXT = "text"  # a few words


class Debrief(Base):
    __tablename__ = "debriefs"
    __table_args__ = (UniqueConstraint("incident_id", "member_tag"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    # cipher.tag("debrief:{member id}"): finds a member's debriefs when they reply.
    member_tag: Mapped[str] = mapped_column(String(64), index=True)
    member_token: Mapped[bytes] = mapped_column(LargeBinary)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    answer: Mapped[str | None] = mapped_column(String(16), default=None)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # "Need support": open for coordinators until one marks it dealt with.
    support_done_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    support_done_by: Mapped[int | None] = mapped_column(Integer, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
