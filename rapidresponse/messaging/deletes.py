"""Deleting our texts (and alert calls) at the provider: what is not kept there cannot be subpoenaed there.

Twilio keeps every message's body and both numbers until the message is deleted. An outbound text
is deleted once final (delivered, undelivered, failed), or UNREPORTED_WAIT after it was sent if no
final status ever came; an inbound text once it is stored and handled; both no sooner than
PROVIDER_DELETE_DELAY_SECONDS, since Twilio refuses a delete (20009) until its own processing is
done. The sweep claims what is due and queues a job; the job deletes, and on success (or 404:
already gone) drops the provider's id from our row, since each SID is a lookup key into the
provider's records. A refusal is tried again later with backoff; a lost job's claim runs out and
the sweep queues it again. An alert call's record (both numbers, when, how long) goes the same
way, through the Calls resource, once its call is final; so does a hotline call's, once the call
is over (its status callback, or the sweep's missed-call marking), its CallSid then replaced by a
keyed hash so that a retried webhook still finds the call. A campaign's bridged leg (our number
to the target: when and how long) goes too, once the bridge is over.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from rapidresponse.campaigns.models import CampaignCall
from rapidresponse.hotline.models import InboundCall, Recording, forgotten_call_sid
from rapidresponse.hotline.service import CALL_GIVEN_UP
from rapidresponse.incidents.models import Incident
from rapidresponse.messaging.models import Channel, DeliveryStatus, InboundMessage, OutboundMessage
from rapidresponse.messaging.provider import NOT_DELETABLE_YET, ProviderError
from rapidresponse.privacy.crypto import FieldCipher
from rapidresponse.services import Services

log = logging.getLogger(__name__)

FINAL = (DeliveryStatus.DELIVERED.value, DeliveryStatus.UNDELIVERED.value, DeliveryStatus.FAILED.value)
IN_FLIGHT = (DeliveryStatus.QUEUED.value, DeliveryStatus.SENT.value)
# A text that never reports a final status (no delivery receipt from the carrier, or no status
# callback at all) is deleted this long after it was sent; if the provider still holds it in its
# queue it answers 20009 and the delete is tried again later.
UNREPORTED_WAIT = timedelta(hours=1)
# A claimed delete not done by then (its job was lost) is claimed and queued again.
CLAIM = timedelta(minutes=10)
FIRST_RETRY = timedelta(minutes=1)
LONGEST_RETRY = timedelta(hours=6)
THREADS = 8  # deletes in flight per job: they share the provider's API concurrency with sends


def retry_after(attempts: int) -> timedelta:
    """1, 2, 4, 8 ... minutes after each refusal, at most LONGEST_RETRY."""
    return min(FIRST_RETRY * (1 << min(max(0, attempts - 1), 16)), LONGEST_RETRY)


def forgotten_sid(cipher: FieldCipher, sid: str) -> str:
    """What an inbound text keeps of its MessageSid once deleted at the provider: a keyed hash
    (64 hex characters, never a Twilio SID), so a retried webhook is still recognised."""
    return cipher.blind_index("message-sid:" + sid)


@dataclass
class Due:
    outbound: list[int] = field(default_factory=list)
    inbound: list[int] = field(default_factory=list)
    recordings: list[int] = field(default_factory=list)
    calls: list[int] = field(default_factory=list)  # hotline calls
    legs: list[int] = field(default_factory=list)  # campaign calls' bridged legs (CampaignCall ids)

    def __bool__(self) -> bool:
        return bool(self.outbound or self.inbound or self.recordings or self.calls or self.legs)


@dataclass(frozen=True)
class RecordingsKept:
    """How long a hotline recording stays at the provider: `after_close` once its incident is
    closed (RECORDING_KEEP_HOURS), and never longer than `at_most` after it was made (RETENTION_DAYS;
    None: no limit). One that opened no incident goes after the delete delay."""

    after_close: timedelta = timedelta(hours=24)
    at_most: timedelta | None = None


def claim_due(session: Session, now: datetime, delay: timedelta, limit: int = 1000,
              recordings: RecordingsKept | None = None) -> Due:
    """Claim the texts and recordings whose provider copy is due for deletion (so the next sweep
    leaves them be)."""
    not_claimed = or_(OutboundMessage.delete_after.is_(None), OutboundMessage.delete_after <= now)
    outbound = list(session.scalars(select(OutboundMessage.id).where(
        OutboundMessage.provider_sid.is_not(None), not_claimed,
        or_(and_(OutboundMessage.status.in_(FINAL), OutboundMessage.status_at <= now - delay),
            and_(OutboundMessage.status.in_(IN_FLIGHT), OutboundMessage.sent_at <= now - max(delay, UNREPORTED_WAIT))),
    ).order_by(OutboundMessage.id).limit(limit)))
    inbound = list(session.scalars(select(InboundMessage.id).where(
        InboundMessage.provider_deleted_at.is_(None), InboundMessage.received_at <= now - delay,
        InboundMessage.outcome.is_not(None), InboundMessage.outcome != "handling",
        or_(InboundMessage.delete_after.is_(None), InboundMessage.delete_after <= now),
    ).order_by(InboundMessage.id).limit(limit)))
    kept = recordings or RecordingsKept()
    due_recording = [and_(Recording.incident_id.is_(None), Recording.created_at <= now - delay),
                     and_(Incident.closed_at.is_not(None), Incident.closed_at <= now - kept.after_close)]
    if kept.at_most is not None:
        due_recording.append(Recording.created_at <= now - kept.at_most)
    claimed_recordings = list(session.scalars(
        select(Recording.id).outerjoin(Incident, Incident.id == Recording.incident_id).where(
            Recording.sid_token.is_not(None),
            or_(Recording.delete_after.is_(None), Recording.delete_after <= now), or_(*due_recording),
        ).order_by(Recording.id).limit(limit)))
    # A hotline call is over once it has ended; one whose end we never heard of, once no call could
    # still be going (the sweep has marked it missed by then).
    calls = list(session.scalars(select(InboundCall.id).where(
        InboundCall.provider_deleted_at.is_(None),
        or_(InboundCall.delete_after.is_(None), InboundCall.delete_after <= now),
        or_(InboundCall.ended_at <= now - delay, InboundCall.received_at <= now - CALL_GIVEN_UP - delay),
    ).order_by(InboundCall.id).limit(limit)))
    # A bridged leg's delete_after is set when the bridge ends (its end + the delay).
    legs = list(session.scalars(select(CampaignCall.id).where(
        CampaignCall.dial_sid.is_not(None), CampaignCall.delete_after <= now).order_by(CampaignCall.id).limit(limit)))
    if legs:
        session.execute(update(CampaignCall).where(CampaignCall.id.in_(legs)).values(delete_after=now + CLAIM))
    if calls:
        session.execute(update(InboundCall).where(InboundCall.id.in_(calls)).values(delete_after=now + CLAIM))
    if claimed_recordings:
        session.execute(update(Recording).where(Recording.id.in_(claimed_recordings))
                        .values(delete_after=now + CLAIM))
    if outbound:
        session.execute(update(OutboundMessage).where(OutboundMessage.id.in_(outbound))
                        .values(delete_after=now + CLAIM))
    if inbound:
        session.execute(update(InboundMessage).where(InboundMessage.id.in_(inbound))
                        .values(delete_after=now + CLAIM))
    return Due(outbound, inbound, claimed_recordings, calls, legs)


@dataclass
class Deleted:
    deleted: int = 0
    already_gone: int = 0
    retry: int = 0


def delete_claimed(svc: Services, due: Due, clock: Callable[[], datetime]) -> Deleted:
    """Delete these texts, recordings and calls at the provider; drop the SIDs of those deleted (or already gone)."""
    with svc.db.session() as session:
        outbound: dict[int, str | None] = {}
        calls: set[int] = set()
        for message_id, sid, channel in session.execute(
                select(OutboundMessage.id, OutboundMessage.provider_sid, OutboundMessage.channel).where(
                    OutboundMessage.id.in_(due.outbound), OutboundMessage.provider_sid.is_not(None))):
            outbound[message_id] = sid
            if channel == Channel.VOICE.value:
                calls.add(message_id)
        inbound = dict(session.execute(select(InboundMessage.id, InboundMessage.message_sid).where(
            InboundMessage.id.in_(due.inbound), InboundMessage.provider_deleted_at.is_(None))).all())
        recordings = {i: svc.cipher.decrypt(token) for i, token in session.execute(
            select(Recording.id, Recording.sid_token).where(
                Recording.id.in_(due.recordings), Recording.sid_token.is_not(None))).all() if token is not None}
        hotline_calls = dict(session.execute(select(InboundCall.id, InboundCall.call_sid).where(
            InboundCall.id.in_(due.calls), InboundCall.provider_deleted_at.is_(None))).all())
        legs = dict(session.execute(select(CampaignCall.id, CampaignCall.dial_sid).where(
            CampaignCall.id.in_(due.legs), CampaignCall.dial_sid.is_not(None))).all())
    work = [("out", i, sid) for i, sid in outbound.items() if sid] + [("in", i, sid) for i, sid in inbound.items()]
    work += [("recording", i, sid) for i, sid in recordings.items()]
    work += [("call", i, sid) for i, sid in hotline_calls.items()]
    work += [("leg", i, sid) for i, sid in legs.items() if sid]
    if not work:
        return Deleted()

    def attempt(item: tuple[str, int, str]) -> ProviderError | None:
        try:
            if item[0] == "recording":
                svc.provider.delete_recording(item[2])
            elif item[0] in ("call", "leg") or (item[0] == "out" and item[1] in calls):
                svc.provider.delete_call(item[2])
            else:
                svc.provider.delete_message(item[2])
        except ProviderError as exc:
            return exc
        return None

    with ThreadPoolExecutor(max_workers=min(THREADS, len(work)), thread_name_prefix="delete") as pool:
        results = list(pool.map(attempt, work))
    done = Deleted()
    now = clock()
    with svc.db.session() as session:
        for (direction, message_id, sid), error in zip(work, results, strict=True):
            model: type[OutboundMessage] | type[InboundMessage] | type[Recording] | type[InboundCall] | \
                type[CampaignCall] = (
                OutboundMessage if direction == "out" else InboundMessage if direction == "in"
                else InboundCall if direction == "call" else CampaignCall if direction == "leg" else Recording)
            if error is None or error.http_status == 404:
                if error is None:
                    done.deleted += 1
                else:
                    done.already_gone += 1
                if direction == "out":
                    session.execute(update(OutboundMessage).where(OutboundMessage.id == message_id)
                                    .values(provider_sid=None, delete_after=None))
                elif direction == "recording":
                    # Only its length and transcript stay: the provider's id goes with the audio.
                    session.execute(update(Recording).where(Recording.id == message_id)
                                    .values(sid_token=None, provider_deleted_at=now, delete_after=None))
                elif direction == "leg":
                    session.execute(update(CampaignCall).where(CampaignCall.id == message_id)
                                    .values(dial_sid=None, delete_after=None))
                elif direction == "call":
                    session.execute(update(InboundCall).where(InboundCall.id == message_id).values(
                        call_sid=forgotten_call_sid(svc.cipher, sid), provider_deleted_at=now, delete_after=None))
                else:
                    session.execute(update(InboundMessage).where(InboundMessage.id == message_id).values(
                        message_sid=forgotten_sid(svc.cipher, sid), provider_deleted_at=now, delete_after=None))
                continue
            done.retry += 1
            attempts = (session.scalar(select(model.delete_attempts).where(model.id == message_id)) or 0) + 1
            session.execute(update(model).where(model.id == message_id).values(
                delete_attempts=attempts, delete_after=now + retry_after(attempts)))
            if error.code != NOT_DELETABLE_YET:
                log.warning("provider delete of %s %s refused (%s); trying again in %s", direction,
                            message_id, error.code or error.http_status or error, retry_after(attempts))
    return done
