"""`rapidresponse db shred`: for when the organisation itself is raided.

Deletes every incident, thread, acknowledgement, message and broadcast (and, asked to, every
member), then the caller compacts the database so the freed pages are gone from the file as well.
The audit log is kept, and says who shredded and when: it holds only ids and times.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from rapidresponse import audit
from rapidresponse.broadcasts.models import Broadcast, BroadcastReply, BroadcastTemplate, BroadcastText
from rapidresponse.campaigns.models import Campaign, CampaignCall, CampaignHour, CampaignTarget
from rapidresponse.debriefs.models import Debrief
from rapidresponse.duty.models import MemberLoad
from rapidresponse.hotline.models import InboundCall, Recording
from rapidresponse.incidents.models import Acknowledgement, Incident, IncidentLayer, Participant, ThreadEvent
from rapidresponse.members.models import Member, MemberTag
from rapidresponse.messaging.models import InboundMessage, OutboundMessage, SimulatedMessage


def destroy_key_file(path: Path) -> None:
    """Overwrite the key file with random bytes, flush it to disk, then remove it.

    On a journaling file system or an SSD an overwrite may not reach every old copy of the
    blocks; keeping DATA_KEY_FILE on a tmpfs or a secrets mount (README) is what makes this sure.
    """
    size = max(path.stat().st_size, 64)
    with path.open("r+b") as key:
        key.write(os.urandom(size))
        key.flush()
        os.fsync(key.fileno())
    path.unlink()


@dataclass(frozen=True)
class Shredded:
    incidents: int
    messages: int
    members: int
    calls: int = 0  # hotline calls
    recordings: int = 0  # hotline recordings (what we kept of them)
    recordings_at_provider: int = 0  # of those, still at the provider when shredded


def _count(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def shred(session: Session, *, members: bool, now: datetime, actor_id: int | None = audit.CLI) -> Shredded:
    """Delete everything about incidents and messages (broadcasts and their templates included);
    with `members`, the members too. Audited as the coordinator `actor_id` (the console's button)
    or the command line."""
    for child in (ThreadEvent, Acknowledgement, Participant, IncidentLayer, Debrief, BroadcastReply, BroadcastText,
                  CampaignCall, CampaignHour, CampaignTarget, Campaign):
        session.execute(delete(child))
    at_provider = int(session.scalar(select(func.count()).select_from(Recording).where(
        Recording.sid_token.is_not(None))) or 0)
    recordings = _count(session.execute(delete(Recording)))
    calls = _count(session.execute(delete(InboundCall)))
    messages = _count(session.execute(delete(OutboundMessage)))
    messages += _count(session.execute(delete(Broadcast)))
    session.execute(delete(BroadcastTemplate))
    incidents = _count(session.execute(delete(Incident)))
    messages += _count(session.execute(delete(InboundMessage)))
    messages += _count(session.execute(delete(SimulatedMessage)))
    # Who was alerted when, and how often they answered, go with the incidents they came from.
    session.execute(delete(MemberLoad))
    session.execute(update(Member).values(last_alerted_at=None))
    removed = 0
    if members:
        session.execute(delete(MemberTag))
        removed = _count(session.execute(delete(Member)))
    audit.record(session, actor_id, audit.AuditAction.SHRED, now, count=incidents)
    return Shredded(incidents=incidents, messages=messages, members=removed, calls=calls, recordings=recordings,
                    recordings_at_provider=at_provider)
