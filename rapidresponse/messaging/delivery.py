"""Delivery status callbacks: recorded once each, never moving a text's status backwards.

The webhook hands each callback on (messaging/status_inbox.py) and a job applies them here in
batches; `apply_statuses` is the single place a status lands.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from rapidresponse.incidents import service as incidents
from rapidresponse.members.models import Member, MemberStatus
from rapidresponse.messaging.models import STATUS_RANK, DeliveryStatus, OutboundMessage
from rapidresponse.messaging.provider import INVALID_NUMBER, NOT_MOBILE, OPTED_OUT
from rapidresponse.services import Services

log = logging.getLogger(__name__)

# Carrier outcomes that mean this number will never get a text from us.
UNDELIVERABLE_CODES = frozenset({INVALID_NUMBER, NOT_MOBILE, 30005, 30006})


@dataclass(frozen=True)
class StatusUpdate:
    """What we keep of one status callback: no number, no body (Twilio sends both; we drop them)."""

    message_sid: str
    status: str
    message_id: int | None = None
    error_code: int | None = None

    def encode(self) -> str:
        """Compact enough to hand on from the webhook in one Redis call (SIDs and statuses have no spaces)."""
        return f"{self.message_sid} {self.status} {self.message_id or ''} {self.error_code or ''}"

    @classmethod
    def decode(cls, raw: str | bytes) -> StatusUpdate | None:
        text = raw.decode() if isinstance(raw, bytes) else raw
        parts = text.split(" ")
        if len(parts) != 4 or not parts[0] or not parts[1]:
            return None
        sid, status, message_id, error = parts
        return cls(sid, status, int(message_id) if message_id.isdigit() else None,
                   int(error) if error.isdigit() else None)


def record_status(svc: Services, *, message_sid: str, status: str, now: datetime, message_id: int | None = None,
                  error_code: int | None = None) -> bool:
    """Apply one callback. Returns False for a duplicate, a stale (backwards) one, or an unknown text."""
    return apply_statuses(svc, [StatusUpdate(message_sid, status, message_id, error_code)], now) == 1


def apply_statuses(svc: Services, updates: Sequence[StatusUpdate], now: datetime) -> int:
    """Apply status callbacks in one transaction, in the order given; returns how many changed a text.

    The one place a delivery status lands: any number of times, in any order, a text's status only
    moves forward (a replay after a crash changes nothing).
    """
    with svc.db.session() as session:
        return sum(_apply(svc, session, update, now) for update in updates)


def _apply(svc: Services, session: Session, update_: StatusUpdate, now: datetime) -> bool:
    message_sid, message_id, error_code = update_.message_sid, update_.message_id, update_.error_code
    try:
        new = DeliveryStatus(update_.status)
    except ValueError:
        # accepted, sending, receiving, read...: Twilio statuses we do not track.
        return False
    if new in (DeliveryStatus.PENDING, DeliveryStatus.SENDING, DeliveryStatus.EXPIRED, DeliveryStatus.CANCELLED):
        return False
    lower = [s.value for s, rank in STATUS_RANK.items() if rank < STATUS_RANK[new]]
    match = OutboundMessage.provider_sid == message_sid
    if message_id is not None:
        # The callback may beat the worker's record of the SID; our own id finds the text anyway.
        match = or_(match, (OutboundMessage.id == message_id)
                    & or_(OutboundMessage.provider_sid.is_(None), OutboundMessage.provider_sid == message_sid))
    message = session.scalar(select(OutboundMessage).where(match))
    if message is None:
        log.info("status %s for an unknown message", new.value)
        return False
    changed = session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.id == message.id, OutboundMessage.status.in_(lower))
        .values(status=new.value, status_at=now, error_code=error_code or message.error_code,
                provider_sid=message_sid)
    )
    if getattr(changed, "rowcount", 0) != 1:
        return False
    if message.incident_id is not None:
        incidents.append(session, svc.cipher, message.incident_id, "delivery", now,
                         actor=f"message {message.id}", member_id=message.member_id,
                         detail={"status": new.value, "error": error_code, "purpose": message.purpose,
                                 "layer": message.layer})
    if error_code is not None and message.member_id is not None:
        member = session.get(Member, message.member_id)
        if member is not None and error_code == OPTED_OUT:
            member.status = MemberStatus.OPTED_OUT.value
            member.opted_out_at = member.opted_out_at or now
        elif member is not None and error_code in UNDELIVERABLE_CODES:
            member.undeliverable_code = error_code
    return True
