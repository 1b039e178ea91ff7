"""Starting and ending drills.

A drill is an incident with `drill` set: opened by a coordinator (from the console, or by texting
DRILL ice eastside), it fans out through the real tree exactly as a report does, with every text
marked DRILL / SIMULACRO and the alert asking nobody to go anywhere. Replies are counted like real
ones (the same quorum, the same escalation), so its after-action figures say how the network
would have answered. It closes as a drill: by RESOLVE, from the console, or by itself
DRILL_MINUTES after it started.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from rapidresponse.escalation import service as escalation
from rapidresponse.incidents import service as incidents
from rapidresponse.incidents.models import Incident
from rapidresponse.incidents.responses import close_incident
from rapidresponse.incidents.service import AfterCommit
from rapidresponse.incidents.states import IncidentStatus
from rapidresponse.members.models import Member
from rapidresponse.services import Services
from rapidresponse.trees.model import Tree

# What a drill's incident says where a report's text would be (coordinators read it on the page).
DRILL_TEXT = "Drill"
# Stands in for a reporter's number on a drill started from the console (never a real number).
CONSOLE = "console"


@dataclass
class Started:
    incident: Incident
    someone_alerted: bool
    after: AfterCommit
    # An open drill of the same tree: nothing new was started.
    already: bool = False


def running(session: Session, svc: Services, tree: str) -> Incident | None:
    """The open drill on this tree, if any (one at a time per tree keeps figures comparable)."""
    for incident in session.scalars(select(Incident).where(Incident.drill.is_(True), Incident.open_code.is_not(None))):
        if incidents.plan_of(svc.cipher, incident).name == tree:
            return incident
    return None


def start(svc: Services, session: Session, tree: Tree, now: datetime, *, actor: str, zone: str | None = None,
          starter: Member | None = None, starter_phone: str = CONSOLE) -> Started:
    """Open a drill on `tree` (its first layer is alerted once the caller commits). The coordinator
    who starts it by text is its "reporter", so they are not alerted by their own drill."""
    found = running(session, svc, tree.name)
    if found is not None:
        return Started(found, True, AfterCommit(), already=True)
    incident = incidents.open_incident(
        session, svc.cipher, tree, text=DRILL_TEXT, reporter_phone=starter_phone, reporter=starter,
        inbound_id=None, now=now, zone=zone, drill=True, actor=actor,
    )
    someone = escalation.anyone_to_alert(svc, session, incident, tree)
    return Started(incident, someone, AfterCommit(start_incident=incident.id))


def overdue(session: Session, now: datetime, minutes: float) -> list[int]:
    """Open drills started more than `minutes` ago: the sweep closes them."""
    return list(session.scalars(select(Incident.id).where(
        Incident.drill.is_(True), Incident.open_code.is_not(None),
        Incident.opened_at <= now - timedelta(minutes=minutes))).all())


def close_overdue(svc: Services, session: Session, incident_id: int, now: datetime) -> AfterCommit:
    """End one overdue drill as any drill ends (everyone alerted told, the after-action summary)."""
    incident = session.get(Incident, incident_id, with_for_update=True)
    if incident is None or not incident.is_open:
        return AfterCommit()
    return close_incident(svc, session, incident, IncidentStatus.DRILL, now, actor="system")
