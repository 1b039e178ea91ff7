"""Delivery status callbacks: recorded once each, never moving a text's status backwards.

The webhook hands each callback on (messaging/status_inbox.py) and a job applies them here in
batches; `apply_statuses` is the single place a status lands.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, or_, select, update
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


# What a callback can tell us; accepted, sending, read... are Twilio statuses we do not track.
TRACKED = frozenset(s.value for s in (DeliveryStatus.QUEUED, DeliveryStatus.SENT, DeliveryStatus.DELIVERED,
                                      DeliveryStatus.UNDELIVERED, DeliveryStatus.FAILED))


@dataclass
class _Text:
    """What applying a status needs of a text, read once per batch."""

    id: int
    provider_sid: str | None
    status: str
    error_code: int | None
    incident_id: int | None
    member_id: int | None
    purpose: str
    layer: int | None


def apply_statuses(svc: Services, updates: Sequence[StatusUpdate], now: datetime) -> int:
    """Apply status callbacks in one transaction, in the order given; returns how many changed a text.

    The one place a delivery status lands: any number of times, in any order, a text's status only
    moves forward (a replay after a crash changes nothing). The texts are read in one query; each
    change is still a conditional UPDATE, so a concurrent writer can never be moved backwards.
    """
    wanted = [(u, DeliveryStatus(u.status)) for u in updates if u.status in TRACKED]
    if not wanted:
        return 0
    with svc.db.session() as session:
        texts = _texts(session, wanted)
        return sum(_apply(svc, session, texts, update, new, now) for update, new in wanted)


def _texts(session: Session, wanted: list[tuple[StatusUpdate, DeliveryStatus]]) -> dict[str | int, _Text]:
    sids = {u.message_sid for u, _ in wanted}
    ids = {u.message_id for u, _ in wanted if u.message_id is not None}
    columns = (OutboundMessage.id, OutboundMessage.provider_sid, OutboundMessage.status, OutboundMessage.error_code,
               OutboundMessage.incident_id, OutboundMessage.member_id, OutboundMessage.purpose, OutboundMessage.layer)
    match: ColumnElement[bool] = OutboundMessage.provider_sid.in_(sids)
    if ids:
        match = or_(match, OutboundMessage.id.in_(ids))
    found: dict[str | int, _Text] = {}
    for row in session.execute(select(*columns).where(match)):
        text = _Text(*row)
        found[text.id] = text
        if text.provider_sid:
            found[text.provider_sid] = text
    return found


def _apply(svc: Services, session: Session, texts: dict[str | int, _Text], update_: StatusUpdate,
           new: DeliveryStatus, now: datetime) -> bool:
    message_sid, message_id, error_code = update_.message_sid, update_.message_id, update_.error_code
    message = texts.get(message_sid)
    if message is None and message_id is not None:
        # The callback may beat the worker's record of the SID; our own id finds the text anyway.
        by_id = texts.get(message_id)
        if by_id is not None and by_id.provider_sid in (None, message_sid):
            message = by_id
    if message is None:
        log.info("status %s for an unknown message", new.value)
        return False
    if STATUS_RANK.get(DeliveryStatus(message.status), 99) >= STATUS_RANK[new]:
        return False  # a duplicate or a late one: never backwards (the UPDATE below checks again)
    lower = [s.value for s, rank in STATUS_RANK.items() if rank < STATUS_RANK[new]]
    changed = session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.id == message.id, OutboundMessage.status.in_(lower))
        .values(status=new.value, status_at=now, error_code=error_code or message.error_code,
                provider_sid=message_sid)
        .execution_options(synchronize_session=False)
    )
    if getattr(changed, "rowcount", 0) != 1:
        return False
    message.status, message.provider_sid = new.value, message_sid
    message.error_code = error_code or message.error_code
    texts[message_sid] = message
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
