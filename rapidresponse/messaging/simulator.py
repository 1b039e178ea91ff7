"""The built-in simulator provider: 'sends' by storing, so a newcomer can try everything locally.

The /simulator page (simulator/routes.py) shows these rows as a phone would.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import select

from rapidresponse.db import Database
from rapidresponse.messaging.models import SimulatedMessage
from rapidresponse.messaging.provider import FoundText, ProviderError, SentText
from rapidresponse.privacy.crypto import FieldCipher


def new_sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


class SimulatorProvider:
    name = "simulator"

    def __init__(self, db: Database, cipher: FieldCipher) -> None:
        self._db = db
        self._cipher = cipher

    def record(self, direction: str, phone: str, body: str, kind: str = "sms", sid: str | None = None) -> str:
        sid = sid or new_sid("SM" if kind == "sms" else "CA")
        with self._db.session() as session:
            session.add(SimulatedMessage(
                sid=sid, direction=direction, kind=kind,
                phone_index=self._cipher.blind_index(phone),
                phone_token=self._cipher.encrypt(phone),
                body_token=self._cipher.encrypt(body),
            ))
        return sid

    def prepare_thread(self) -> None:
        return None

    def send_sms(self, to: str, body: str, *, status_callback: str | None,
                 validity_period: int | None) -> SentText:
        if not to.startswith("+"):
            raise ProviderError("The 'To' number is not a valid phone number", code=21211, http_status=400)
        return SentText(sid=self.record("out", to, body), status="delivered")

    def place_call(self, to: str, *, twiml: str, status_callback: str | None) -> str:
        return self.record("out", to, twiml, kind="call")

    def find_sent(self, to: str, since: datetime) -> list[FoundText]:
        with self._db.session() as session:
            rows = session.scalars(
                select(SimulatedMessage).where(
                    SimulatedMessage.phone_index == self._cipher.blind_index(to),
                    SimulatedMessage.direction == "out",
                    SimulatedMessage.created_at >= since,
                )
            ).all()
            return [FoundText(sid=r.sid, body=self._cipher.decrypt(r.body_token), created_at=r.created_at)
                    for r in rows]

    def conversation(self, phone: str, limit: int = 200) -> list[tuple[str, str, str, datetime]]:
        """(direction, kind, body, when) for one number, oldest first."""
        with self._db.session() as session:
            rows = session.scalars(
                select(SimulatedMessage)
                .where(SimulatedMessage.phone_index == self._cipher.blind_index(phone))
                .order_by(SimulatedMessage.id.desc()).limit(limit)
            ).all()
            return [(r.direction, r.kind, self._cipher.decrypt(r.body_token), r.created_at) for r in reversed(rows)]
