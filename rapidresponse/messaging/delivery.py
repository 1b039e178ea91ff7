"""Delivery status callbacks: recorded once each, never moving a text's status backwards.

The webhook hands each callback on (messaging/status_inbox.py) and a job applies them here in
batches; `apply_statuses` is the single place a status lands.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, bindparam, insert, or_, select, update
from sqlalchemy.orm import Session

from rapidresponse.alertcalls import service as alertcalls
from rapidresponse.campaigns import calls as campaign_calls
from rapidresponse.incidents import service as incidents
from rapidresponse.incidents.models import ThreadEvent
from rapidresponse.incidents.service import AfterCommit
from rapidresponse.members.models import Member, MemberStatus
from rapidresponse.messaging.models import STATUS_RANK, Channel, DeliveryStatus, OutboundMessage, Purpose
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
    # For a call's final status: how it ended (busy, no-answer, completed, machine, ...).
    ended: str = ""

    def encode(self) -> str:
        """Compact enough to hand on from the webhook in one Redis call (SIDs and statuses have no spaces)."""
        text = f"{self.message_sid} {self.status} {self.message_id or ''} {self.error_code or ''}"
        return f"{text} {self.ended}" if self.ended else text

    @classmethod
    def decode(cls, raw: str | bytes) -> StatusUpdate | None:
        text = raw.decode() if isinstance(raw, bytes) else raw
        parts = text.split(" ")
        if len(parts) not in (4, 5) or not parts[0] or not parts[1]:
            return None
        sid, status, message_id, error = parts[:4]
        return cls(sid, status, int(message_id) if message_id.isdigit() else None,
                   int(error) if error.isdigit() else None, parts[4] if len(parts) == 5 else "")


# The statuses that end a text's (or a call's) life at the provider.
FINAL = frozenset(s.value for s in (DeliveryStatus.DELIVERED, DeliveryStatus.UNDELIVERED, DeliveryStatus.FAILED))


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
    channel: str = Channel.SMS.value
    keypress: str | None = None


def apply_statuses(svc: Services, updates: Sequence[StatusUpdate], now: datetime,
                   after: AfterCommit | None = None) -> int:
    """Apply status callbacks in one transaction, in the order given; returns how many changed a text.

    The one place a delivery status lands: any number of times, in any order, a text's status only
    moves forward (a replay after a crash changes nothing).

    Everything is decided before the first write, then written in a few multi-row statements, so
    a batch holds SQLite's write lock for milliseconds (members' texts wait for it). Each UPDATE
    still checks the status it moves from; if any found its text already moved on (another
    writer got there first), the batch is redone one callback at a time.

    A text alert that ends undelivered or failed for good falls back to one call (alertcalls), whose
    id is left in `after` for the caller to send; a call that ends without a keypress is a "not reached
    by call" line in the thread.
    """
    wanted = [(u, DeliveryStatus(u.status)) for u in updates if u.status in TRACKED]
    if not wanted:
        return 0
    with svc.db.session() as session:
        texts = _texts(session, wanted)
        changes = [c for c in (_decide(texts, u, new) for u, new in wanted) if c is not None]
        if changes and not _write(session, changes, now):
            session.rollback()
            texts = _texts(session, wanted)
            changes = [c for c in (_apply(svc, session, texts, u, new, now) for u, new in wanted) if c is not None]
        # Whatever an applied status leads to happens here, once per change, whichever path wrote it.
        for change in changes:
            _mark_member(session, change.text.member_id, change.error_code, now)
            if change.text.channel == Channel.VOICE.value:
                _call_ended(svc, session, change, now)
            elif change.status.value in FINAL and change.status is not DeliveryStatus.DELIVERED:
                calls = alertcalls.fall_back(svc, session, alertcalls.FailedText(
                    change.text.id, change.text.member_id, change.text.incident_id, change.text.layer,
                    change.text.purpose, change.error_code), now)
                if after is not None:
                    after.send_ids.extend(calls)
        return len(changes)


def _call_ended(svc: Services, session: Session, change: _Change, now: datetime) -> None:
    """Only a keypress counts: a call that ended without one did not reach the member (busy, no
    answer, failed, canceled, voicemail, or answered and left silent). They stay pending."""
    text = change.text
    if change.status.value in FINAL and text.purpose == Purpose.CAMPAIGN_CALL.value:
        campaign_calls.member_call_over(session, text.id, now)  # never bridged: it holds no slot
        return
    if change.status.value not in FINAL or text.keypress is not None or text.incident_id is None:
        return
    member = session.get(Member, text.member_id) if text.member_id is not None else None
    incidents.append(session, svc.cipher, text.incident_id, "not_reached", now, actor=f"message {text.id}",
                     member=member, detail={"by": "call", "outcome": change.ended or change.status.value,
                                            "layer": text.layer, "message": text.id})


@dataclass(frozen=True)
class _Change:
    text: _Text
    status: DeliveryStatus
    error_code: int | None
    was: str
    ended: str = ""


def _decide(texts: dict[str | int, _Text], update_: StatusUpdate, new: DeliveryStatus) -> _Change | None:
    message = _find(texts, update_)
    if message is None:
        log.info("status %s for an unknown message", new.value)
        return None
    if STATUS_RANK.get(DeliveryStatus(message.status), 99) >= STATUS_RANK[new]:
        return None  # a duplicate or a late one: never backwards
    was = message.status
    message.status, message.provider_sid = new.value, update_.message_sid
    message.error_code = update_.error_code or message.error_code
    texts[update_.message_sid] = message
    return _Change(message, new, update_.error_code, was, update_.ended)


def _find(texts: dict[str | int, _Text], update_: StatusUpdate) -> _Text | None:
    message = texts.get(update_.message_sid)
    if message is None and update_.message_id is not None:
        # The callback may beat the worker's record of the SID; our own id finds the text anyway.
        by_id = texts.get(update_.message_id)
        if by_id is not None and by_id.provider_sid in (None, update_.message_sid):
            message = by_id
    return message


def _write(session: Session, changes: list[_Change], now: datetime) -> bool:
    """Write the batch's decisions; False if any text had moved on meanwhile (nothing is kept then)."""
    table = cast(Table, OutboundMessage.__table__)
    first: dict[int, str] = {}
    final: dict[int, _Change] = {}
    for change in changes:
        first.setdefault(change.text.id, change.was)
        final[change.text.id] = change
    by_from: dict[str, list[dict[str, object]]] = defaultdict(list)
    for text_id, change in final.items():
        by_from[first[text_id]].append({"text_id": text_id, "new_status": change.status.value,
                                        "new_sid": change.text.provider_sid, "new_error": change.text.error_code})
    moved = 0
    for was, rows in by_from.items():
        result = session.execute(
            table.update().where(table.c.id == bindparam("text_id"), table.c.status == was)
            .values(status=bindparam("new_status"), status_at=now, provider_sid=bindparam("new_sid"),
                    error_code=bindparam("new_error")), rows)
        moved += int(getattr(result, "rowcount", len(rows)))
    if moved != len(final):
        return False
    # A delivery line names its message, never the member (the console resolves the masked number).
    events = [{"incident_id": c.text.incident_id, "at": now, "kind": "delivery", "actor": f"message {c.text.id}",
               "participant_id": None, "body_token": None,
               "detail": {"status": c.status.value, "error": c.error_code, "purpose": c.text.purpose,
                          "layer": c.text.layer, **_by_call(c.text)}}
              for c in changes if c.text.incident_id is not None]
    if events:
        session.execute(insert(ThreadEvent), events)
    return True


def _by_call(text: _Text) -> dict[str, str]:
    return {"by": "call"} if text.channel == Channel.VOICE.value else {}


def _mark_member(session: Session, member_id: int | None, error_code: int | None, now: datetime) -> None:
    """A callback saying a number opted out or is dead: the member is marked so."""
    if error_code is None or member_id is None:
        return
    member = session.get(Member, member_id)
    if member is not None and error_code == OPTED_OUT:
        member.status = MemberStatus.OPTED_OUT.value
        member.opted_out_at = member.opted_out_at or now
    elif member is not None and error_code in UNDELIVERABLE_CODES:
        member.undeliverable_code = error_code


def _texts(session: Session, wanted: list[tuple[StatusUpdate, DeliveryStatus]]) -> dict[str | int, _Text]:
    sids = {u.message_sid for u, _ in wanted}
    ids = {u.message_id for u, _ in wanted if u.message_id is not None}
    columns = (OutboundMessage.id, OutboundMessage.provider_sid, OutboundMessage.status, OutboundMessage.error_code,
               OutboundMessage.incident_id, OutboundMessage.member_id, OutboundMessage.purpose, OutboundMessage.layer,
               OutboundMessage.channel, OutboundMessage.keypress)
    match: ColumnElement[bool] = OutboundMessage.provider_sid.in_(sids)
    if ids:
        match = or_(match, OutboundMessage.id.in_(ids))
    found: dict[str | int, _Text] = {}
    for row in session.execute(select(*columns).where(match)):
        values: tuple[Any, ...] = tuple(row)
        text = _Text(*values)
        found[text.id] = text
        if text.provider_sid:
            found[text.provider_sid] = text
    return found


def _apply(svc: Services, session: Session, texts: dict[str | int, _Text], update_: StatusUpdate,
           new: DeliveryStatus, now: datetime) -> _Change | None:
    """One callback, its own conditional UPDATE: the exact path when a batch met another writer."""
    message = _find(texts, update_)
    if message is None or STATUS_RANK.get(DeliveryStatus(message.status), 99) >= STATUS_RANK[new]:
        return None
    lower = [s.value for s, rank in STATUS_RANK.items() if rank < STATUS_RANK[new]]
    changed = session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.id == message.id, OutboundMessage.status.in_(lower))
        .values(status=new.value, status_at=now, error_code=update_.error_code or message.error_code,
                provider_sid=update_.message_sid)
        .execution_options(synchronize_session=False)
    )
    if getattr(changed, "rowcount", 0) != 1:
        return None
    was = message.status
    message.status, message.provider_sid = new.value, update_.message_sid
    message.error_code = update_.error_code or message.error_code
    texts[update_.message_sid] = message
    if message.incident_id is not None:
        incidents.append(session, svc.cipher, message.incident_id, "delivery", now,
                         actor=f"message {message.id}",
                         detail={"status": new.value, "error": update_.error_code, "purpose": message.purpose,
                                 "layer": message.layer, **_by_call(message)})
    return _Change(message, new, update_.error_code, was, update_.ended)
