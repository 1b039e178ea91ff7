"""The key check: how a process knows, before it reads or writes anything, that DATA_KEY is right."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from rapidresponse.db import Base, UTCDateTime, utcnow


class KeyCheck(Base):
    """One row: the key check value of the DATA_KEY everything here is encrypted with."""

    __tablename__ = "key_check"

    id: Mapped[int] = mapped_column(primary_key=True)
    value: Mapped[str] = mapped_column(String(64))
    set_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
