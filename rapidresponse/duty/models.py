"""Load counts per member and each layer's coverage as the sweep last saw it.

Load is kept as counts only, in LOAD_BUCKET_DAYS-day buckets: nothing says which alert someone
got or which incident they went to (an incident forgets its members when it closes), and no count
says which day. Buckets older than the 30-day window are deleted by the sweep.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from rapidresponse.db import Base, UTCDateTime


class MemberLoad(Base):
    __tablename__ = "member_load"
    __table_args__ = (UniqueConstraint("member_id", "bucket"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    bucket: Mapped[int] = mapped_column(Integer)  # days since 1970-01-01 // LOAD_BUCKET_DAYS
    alerts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    answered: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    on_the_way: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class LayerCoverage(Base):
    """How many of a layer's reachable members are unpaused and on duty, as the sweep last counted;
    `warned_at`: when coordinators were last told it is below its quorum (at most once a day)."""

    __tablename__ = "layer_coverage"
    __table_args__ = (UniqueConstraint("tree", "layer"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tree: Mapped[str] = mapped_column(String(32))
    layer: Mapped[int] = mapped_column(Integer)
    members: Mapped[int] = mapped_column(Integer, default=0)
    paused: Mapped[int] = mapped_column(Integer, default=0)
    on_duty: Mapped[int] = mapped_column(Integer, default=0)
    quorum: Mapped[int] = mapped_column(Integer, default=1)
    # Below its quorum inside its duty window (outside it a layer is off, not short).
    short: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime)
    warned_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
