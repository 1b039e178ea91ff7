"""What the console shows and does: incident summaries, a thread made readable, coordinator decisions.

Plain functions over a Session (no Flask), so they are tested and reused without a request.
Nothing returned here holds a full phone number: thread actors are masked when written, details
are masked again on the way out in case a future event puts a number there, and numbers typed
into reports and replies are masked unless a coordinator asks `reveal` for one item.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rapidresponse import audit
from rapidresponse.db import parse_id
from rapidresponse.escalation.policy import responders_on_the_way
from rapidresponse.incidents import service as incidents
from rapidresponse.incidents.models import Acknowledgement, Incident, Participant, ThreadEvent
from rapidresponse.incidents.responses import close_incident, confirm_incident, wanted
from rapidresponse.incidents.service import AfterCommit
from rapidresponse.incidents.states import OPEN_STATUSES, IncidentStatus, LayerStatus
from rapidresponse.members.models import Member
from rapidresponse.messaging.models import DeliveryStatus, OutboundMessage
from rapidresponse.privacy.crypto import DecryptionError, FieldCipher
from rapidresponse.privacy.masking import mask_phone, mask_phone_numbers
from rapidresponse.services import Services

log = logging.getLogger(__name__)

RECENT_CLOSED = 30
NOTE_MAX = 1000
UNREADABLE = "[cannot be decrypted with the current DATA_KEY]"


class Decision(str, Enum):
    """What a coordinator may decide from the incident page."""

    CONFIRM = "confirm"
    FALSE_ALARM = "false_alarm"
    RESOLVE = "resolve"
    DRILL = "drill"


AUDITED = {
    Decision.CONFIRM: audit.AuditAction.CONFIRM,
    Decision.FALSE_ALARM: audit.AuditAction.STAND_DOWN,
    Decision.RESOLVE: audit.AuditAction.RESOLVE,
    Decision.DRILL: audit.AuditAction.CLOSE_DRILL,
}

CLOSING = {
    Decision.FALSE_ALARM: IncidentStatus.FALSE_ALARM,
    Decision.RESOLVE: IncidentStatus.RESOLVED,
    Decision.DRILL: IncidentStatus.DRILL,
}


def coordinator_actor(coordinator_id: int) -> str:
    """How a console user appears in a thread: by id, never by email."""
    return f"coordinator #{coordinator_id}"


def readable(cipher: FieldCipher, token: bytes | None) -> str | None:
    if token is None:
        return None
    try:
        return cipher.decrypt(token)
    except DecryptionError:
        return UNREADABLE


@dataclass(frozen=True)
class Summary:
    """One row of the incidents list."""

    id: int
    code: str
    tree: str
    status: str
    zone: str | None
    opened_at: datetime
    closed_at: datetime | None
    layers_alerted: list[int]
    layer_count: int
    yes: int
    quorum: int
    covered: bool
    # Open, and every layer of its tree was empty: no volunteer was alerted. Coordinators must act.
    nobody_alerted: bool = False

    @property
    def is_open(self) -> bool:
        return IncidentStatus(self.status).is_open


def nobody_alerted(incident: Incident) -> bool:
    return (IncidentStatus(incident.status).is_open and bool(incident.layers)
            and all(lay.status == LayerStatus.SKIPPED.value for lay in incident.layers))


def next_layer_due(incident: Incident) -> tuple[int, datetime] | None:
    """(layer, when) whose wait decides when the next layer goes; None when nothing is coming:
    the incident is closed or covered, or no layer after the last one alerted is still waiting."""
    if not IncidentStatus(incident.status).is_open or incident.covered_at is not None:
        return None
    alerted = [lay for lay in incident.layers if lay.status == LayerStatus.ALERTED.value]
    if not alerted:
        return None
    last = max(alerted, key=lambda lay: lay.number)
    waiting_after = any(lay.number > last.number and lay.status == LayerStatus.WAITING.value
                        for lay in incident.layers)
    if not waiting_after or last.due_at is None:
        return None
    return last.number, last.due_at


def summarize(cipher: FieldCipher, incident: Incident, yes_by_layer: Counter[int]) -> Summary:
    tree = incidents.plan_of(cipher, incident)
    return Summary(
        id=incident.id, code=incident.code, tree=tree.name, status=incident.status, zone=incident.zone,
        opened_at=incident.opened_at, closed_at=incident.closed_at,
        layers_alerted=[lay.number for lay in incident.layers if lay.status == LayerStatus.ALERTED.value],
        layer_count=len(tree.layers), yes=responders_on_the_way(tree, yes_by_layer),
        quorum=wanted(tree, incident), covered=incident.covered_at is not None,
        nobody_alerted=nobody_alerted(incident),
    )


def yes_counts(session: Session, incident_ids: list[int]) -> dict[int, Counter[int]]:
    """YES answers per incident and layer, in one query for the whole list."""
    counts: dict[int, Counter[int]] = defaultdict(Counter)
    if not incident_ids:
        return counts
    rows = session.execute(
        select(Acknowledgement.incident_id, Acknowledgement.layer, func.count())
        .where(Acknowledgement.incident_id.in_(incident_ids), Acknowledgement.answer == "yes")
        .group_by(Acknowledgement.incident_id, Acknowledgement.layer)
    ).all()
    for incident_id, layer, n in rows:
        counts[int(incident_id)][int(layer or 0)] += int(n)
    return counts


def incident_list(session: Session, cipher: FieldCipher, *,
                  recent_closed: int = RECENT_CLOSED) -> tuple[list[Summary], list[Summary]]:
    """Open incidents (newest first), then the most recently closed."""
    open_ = list(session.scalars(
        select(Incident).where(Incident.status.in_([s.value for s in OPEN_STATUSES]))
        .order_by(Incident.opened_at.desc(), Incident.id.desc())
    ).all())
    closed = list(session.scalars(
        select(Incident).where(Incident.status.not_in([s.value for s in OPEN_STATUSES]))
        .order_by(Incident.closed_at.desc(), Incident.id.desc()).limit(recent_closed)
    ).all())
    yes = yes_counts(session, [i.id for i in open_ + closed])
    # Reports nobody could be alerted for come first: only a coordinator can help them now.
    opened = sorted((summarize(cipher, i, yes[i.id]) for i in open_), key=lambda s: not s.nobody_alerted)
    return opened, [summarize(cipher, i, yes[i.id]) for i in closed]


@dataclass(frozen=True)
class Event:
    at: datetime
    kind: str
    actor: str
    body: str | None
    detail: list[tuple[str, str]]
    id: int = 0
    # Numbers typed into the body are masked; a coordinator may reveal them (see `reveal`).
    masked: bool = False


@dataclass(frozen=True)
class LayerLine:
    number: int
    name: str
    verifies: bool
    quorum: int
    status: str
    recipients: int
    alerted_at: datetime | None
    # When the next layer goes if this one's quorum is not met; only on the layer that decides it.
    next_due: datetime | None


@dataclass(frozen=True)
class IncidentView:
    summary: Summary
    report: str
    report_masked: bool
    verified: bool
    unverified_escalation: bool
    events: list[Event]
    layers: list[LayerLine]
    deliveries: list[tuple[str, int]] = field(default_factory=list)

    @property
    def is_open(self) -> bool:
        return self.summary.is_open


def _detail(detail: dict[str, Any]) -> list[tuple[str, str]]:
    return [(str(k), mask_phone_numbers(str(v))) for k, v in detail.items() if v is not None and v != ""]


def delivery_counts(session: Session, incident_id: int) -> list[tuple[str, int]]:
    """Texts for this incident by status, in the order a text moves through them; zeros left out."""
    rows = dict(session.execute(
        select(OutboundMessage.status, func.count()).where(OutboundMessage.incident_id == incident_id)
        .group_by(OutboundMessage.status)
    ).all())
    return [(s.value, int(rows[s.value])) for s in DeliveryStatus if rows.get(s.value)]


REPORT = "report"


def masked(text: str | None, show: bool) -> tuple[str | None, bool]:
    """The text with numbers masked unless `show`; and whether there is anything masked to show."""
    if text is None or text == UNREADABLE:
        return text, False
    hidden = mask_phone_numbers(text)
    return (text if show else hidden), hidden != text and not show


class Actors:
    """Names a thread's lines for a coordinator: stored lines hold only pseudonyms ("responder 3")
    and message ids; the masked number behind each is looked up now, with the key, and only here."""

    def __init__(self, session: Session, cipher: FieldCipher, incident: Incident) -> None:
        self.session, self.cipher, self.incident = session, cipher, incident
        self.participants = {p.id: p for p in session.scalars(
            select(Participant).where(Participant.incident_id == incident.id))}
        self._numbers: dict[int, str] = {}

    def name(self, event: ThreadEvent) -> str:
        if event.participant_id is not None and event.participant_id in self.participants:
            return self._participant(self.participants[event.participant_id])
        if event.actor == incidents.REPORTER:
            return f"reporter {self._masked(self.incident.reporter_token)}"
        message = event.detail.get("message") if event.kind.endswith("_sent") else None
        if isinstance(message, int):
            token = self.session.scalar(select(OutboundMessage.to_token).where(OutboundMessage.id == message))
            return self._masked(token) if token is not None else event.actor
        return event.actor

    def _participant(self, named: Participant) -> str:
        pseudonym = f"{readable(self.cipher, named.label_token)} {named.number}"
        if named.id not in self._numbers:
            phone = None
            if named.member_token is not None:
                member_id = int(self.cipher.decrypt(named.member_token))
                phone = self.session.scalar(select(Member.phone_token).where(Member.id == member_id))
            self._numbers[named.id] = self._masked(phone) if phone is not None else ""
        number = self._numbers[named.id]
        return f"{pseudonym} ({number})" if number else pseudonym

    def _masked(self, token: bytes | None) -> str:
        text = readable(self.cipher, token)
        return mask_phone(text) if text and text != UNREADABLE else "…"


def incident_view(session: Session, cipher: FieldCipher, incident_id: int,
                  reveal: str | int | None = None) -> IncidentView | None:
    """The incident page. Numbers typed into the report and the thread are masked, except in the
    one item named by `reveal` (REPORT or an event id), which only `reveal()` should pass."""
    incident = session.get(Incident, incident_id)
    if incident is None:
        return None
    tree = incidents.plan_of(cipher, incident)
    actors = Actors(session, cipher, incident)
    events = []
    for e in session.scalars(select(ThreadEvent).where(ThreadEvent.incident_id == incident.id)
                             .order_by(ThreadEvent.at, ThreadEvent.id)):
        body, hidden = masked(readable(cipher, e.body_token), reveal == e.id)
        events.append(Event(at=e.at, kind=e.kind, actor=actors.name(e), body=body, detail=_detail(e.detail), id=e.id,
                            masked=hidden))
    layers = []
    due = next_layer_due(incident)
    for lay in incident.layers:
        spec = tree.layer(lay.number)
        layers.append(LayerLine(
            number=lay.number, name=spec.name if spec else f"layer {lay.number}",
            verifies=bool(spec and spec.verifies), quorum=spec.quorum if spec else 0, status=lay.status,
            recipients=lay.recipients, alerted_at=lay.alerted_at,
            next_due=due[1] if due is not None and due[0] == lay.number else None,
        ))
    report, report_masked = masked(readable(cipher, incident.text_token) or "", reveal == REPORT)
    return IncidentView(
        summary=summarize(cipher, incident, incidents.yes_by_layer(session, incident.id)),
        report=report or "", report_masked=report_masked, verified=incident.verified,
        unverified_escalation=incident.unverified_escalation, events=events, layers=layers,
        deliveries=delivery_counts(session, incident.id),
    )


@dataclass(frozen=True)
class Outcome:
    changed: bool
    message: str
    after: AfterCommit = field(default_factory=AfterCommit)


def decide(svc: Services, session: Session, incident: Incident, decision: Decision, coordinator_id: int,
           now: datetime) -> Outcome:
    """Apply a coordinator's decision through the same services a verifier's text uses (and audit it
    when it changed something)."""
    outcome = _decide(svc, session, incident, decision, coordinator_id, now)
    if outcome.changed:
        audit.record(session, coordinator_id, AUDITED[decision], now, target=audit.Target.INCIDENT,
                     target_id=incident.id)
    return outcome


def _decide(svc: Services, session: Session, incident: Incident, decision: Decision, coordinator_id: int,
            now: datetime) -> Outcome:
    actor = coordinator_actor(coordinator_id)
    code = incident.code
    if not incident.is_open:
        return Outcome(False, f"{code} is already closed.")
    if decision == Decision.CONFIRM:
        confirmed = confirm_incident(svc, session, incident, now, actor=actor)
        if confirmed is None:
            return Outcome(False, f"{code} was already confirmed.")
        return Outcome(True, f"{code} confirmed.", confirmed)
    after = close_incident(svc, session, incident, CLOSING[decision], now, actor=actor)
    label = {Decision.FALSE_ALARM: "stood down as a false alarm", Decision.RESOLVE: "resolved",
             Decision.DRILL: "closed as a drill"}[decision]
    return Outcome(True, f"{code} {label}; everyone alerted is being told.", after)


def add_note(session: Session, cipher: FieldCipher, incident: Incident, coordinator_id: int, text: str,
             now: datetime) -> bool:
    """A coordinator's note on an open incident's thread (encrypted like every other body)."""
    text = text.strip()[:NOTE_MAX]
    if not text or not incident.is_open:
        return False
    incidents.append(session, cipher, incident.id, "note", now, actor=coordinator_actor(coordinator_id),
                     body=text)
    return True


def reveal(session: Session, cipher: FieldCipher, incident_id: int, target: str, coordinator_id: int,
           now: datetime) -> IncidentView | None:
    """A coordinator asked to see the numbers in the report (`target` REPORT) or one thread event
    (its id). The one door to an unmasked text on the console, so every reveal is audited."""
    item: str | int | None = REPORT if target == REPORT else parse_id(target)
    if item is None:
        return None
    if item != REPORT and session.scalar(select(ThreadEvent.id).where(
            ThreadEvent.id == item, ThreadEvent.incident_id == incident_id)) is None:
        return None
    view = incident_view(session, cipher, incident_id, reveal=item)
    if view is None:
        return None
    log.info("coordinator #%d revealed numbers in %s of incident %d", coordinator_id,
             "the report" if item == REPORT else f"event {item}", incident_id)
    audit.record(session, coordinator_id, audit.AuditAction.REVEAL, now, target=audit.Target.INCIDENT,
                 target_id=incident_id)
    return view
