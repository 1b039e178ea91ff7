"""Retention: what is not kept cannot be seized. Records older than RETENTION_DAYS are deleted.

Deleted: closed incidents with their layers, acknowledgements, threads, debriefs and texts; finished
broadcasts with their texts and replies; texts and inbound messages not tied to an open incident;
simulator messages; audit log entries (they hold only ids and times, but a log kept for ever would
still date every incident ever handled). Kept: members (someone who
texted STOP must stay out) and open incidents, however old. On SQLite, deleted rows are zeroed
(secure_delete) and the caller empties the WAL afterwards (Database.truncate_log), so the file
and its log no longer hold them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, and_, delete, or_, select, update
from sqlalchemy.orm import Session

from rapidresponse import audit
from rapidresponse.broadcasts.models import Broadcast, BroadcastReply, BroadcastStatus, BroadcastText
from rapidresponse.campaigns.models import CampaignCall
from rapidresponse.debriefs.models import Debrief
from rapidresponse.hotline.models import InboundCall, Recording
from rapidresponse.incidents.models import Acknowledgement, Incident, IncidentLayer, Participant, ThreadEvent
from rapidresponse.messaging.models import DeliveryStatus, InboundMessage, OutboundMessage, SimulatedMessage

UNFINISHED = (DeliveryStatus.PENDING.value, DeliveryStatus.SENDING.value)


@dataclass(frozen=True)
class Purged:
    incidents: int
    texts_out: int
    texts_in: int
    simulated: int
    audit_events: int = 0
    calls: int = 0  # hotline calls
    recordings: int = 0  # what we kept of hotline recordings (already deleted at the provider)


def _count(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def purge(session: Session, cutoff: datetime) -> Purged:
    """Delete everything older than `cutoff` that no open incident still needs."""
    old_incidents = select(Incident.id).where(Incident.closed_at.is_not(None), Incident.closed_at < cutoff)
    calls, recordings = _purge_hotline(session, cutoff, old_incidents)
    for child in (ThreadEvent, Acknowledgement, Participant, IncidentLayer, Debrief):
        session.execute(delete(child).where(child.incident_id.in_(old_incidents)))
    texts_out = _count(session.execute(delete(OutboundMessage).where(
        OutboundMessage.incident_id.in_(old_incidents))))
    incidents = _count(session.execute(delete(Incident).where(Incident.id.in_(old_incidents))))
    # Who called which target: gone at the cutoff (the campaign keeps its counts only).
    session.execute(delete(CampaignCall).where(CampaignCall.created_at < cutoff))
    old_broadcasts = select(Broadcast.id).where(
        Broadcast.status.in_([BroadcastStatus.DONE.value, BroadcastStatus.CANCELLED.value]),
        Broadcast.finished_at < cutoff)
    session.execute(delete(BroadcastReply).where(BroadcastReply.broadcast_id.in_(old_broadcasts)))
    session.execute(delete(BroadcastText).where(BroadcastText.broadcast_id.in_(old_broadcasts)))
    texts_out += _count(session.execute(delete(OutboundMessage).where(
        OutboundMessage.broadcast_id.in_(old_broadcasts))))
    session.execute(delete(Broadcast).where(Broadcast.id.in_(old_broadcasts)))
    texts_out += _count(session.execute(delete(OutboundMessage).where(
        OutboundMessage.incident_id.is_(None), OutboundMessage.broadcast_id.is_(None),
        OutboundMessage.created_at < cutoff, OutboundMessage.status.not_in(UNFINISHED))))
    still_needed = select(Incident.inbound_message_id).where(Incident.inbound_message_id.is_not(None))
    texts_in = _count(session.execute(delete(InboundMessage).where(
        InboundMessage.received_at < cutoff, InboundMessage.outcome.is_not(None),
        InboundMessage.id.not_in(still_needed))))
    simulated = _count(session.execute(delete(SimulatedMessage).where(SimulatedMessage.created_at < cutoff)))
    audit_events = audit.purge(session, cutoff)
    return Purged(incidents=incidents, texts_out=texts_out, texts_in=texts_in, simulated=simulated,
                  audit_events=audit_events, calls=calls, recordings=recordings)


def _purge_hotline(session: Session, cutoff: datetime,
                   old_incidents: Select[tuple[int]] | Select[int]) -> tuple[int, int]:
    """Hotline calls and recordings that go with the purged incidents, or are old and tied to none.

    A recording still at the provider (its delete keeps being refused) keeps its row, and so its
    provider id, until the delete succeeds: only its link to the incident and its transcript go
    now. Without that id it could never be deleted there."""
    old_calls = select(InboundCall.id).where(or_(
        InboundCall.incident_id.in_(old_incidents),
        and_(InboundCall.incident_id.is_(None), InboundCall.received_at < cutoff, InboundCall.outcome.is_not(None))))
    session.execute(update(Recording).where(Recording.call_id.in_(old_calls)).values(call_id=None))
    calls = _count(session.execute(delete(InboundCall).where(InboundCall.id.in_(old_calls))))
    recordings = _count(session.execute(delete(Recording).where(
        Recording.sid_token.is_(None),
        or_(Recording.incident_id.in_(old_incidents),
            and_(Recording.incident_id.is_(None), Recording.created_at < cutoff)))))
    session.execute(update(Recording).where(Recording.incident_id.in_(old_incidents))
                    .values(incident_id=None, transcript_token=None))
    return calls, recordings
