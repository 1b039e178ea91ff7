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
from rapidresponse.incidents.responses import close_incident, confirm_incident, pass_on, wanted
from rapidresponse.incidents.service import AfterCommit
from rapidresponse.incidents.states import OPEN_STATUSES, IncidentStatus, LayerStatus
from rapidresponse.members.models import Member
from rapidresponse.messaging.models import DeliveryStatus, OutboundMessage, Purpose
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


STATUS_LABELS = {
    "reported": "reported", "verifying": "verifying", "confirmed": "confirmed", "resolved": "resolved",
    "false_alarm": "false alarm", "drill": "drill",
}

# What each kind of text or call is called in a thread line ("Alert text to layer 1 (verifiers) ...").
TEXT_NAMES = {
    "alert": "Alert text", "stand_down": "Stand-down text", "covered": "\"Covered\" text",
    "relay": "Relayed message", "reply": "Reply", "welcome": "Welcome text", "broadcast": "Broadcast text",
    "team_message": "Coordinators' message",
}
CALL_NAMES = {"alert": "Alert call", "stand_down": "Stand-down call", "covered": "\"Covered\" call"}


LAYER_STATUS_LABELS = {
    "waiting": "not alerted yet", "alerted": "alerted", "skipped": "skipped: nobody in it",
    "not_needed": "not needed",
}


def status_label(status: str) -> str:
    return STATUS_LABELS.get(status, status.replace("_", " "))


def layer_status(status: str) -> str:
    return LAYER_STATUS_LABELS.get(status, status.replace("_", " "))


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
    drill: bool = False  # started as a drill (drills/)

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
        nobody_alerted=nobody_alerted(incident), drill=incident.drill,
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


def listed_incidents(session: Session, *, recent_closed: int = RECENT_CLOSED) -> tuple[list[Incident], list[Incident]]:
    """Open incidents (newest first), then the most recently closed."""
    open_ = list(session.scalars(
        select(Incident).where(Incident.status.in_([s.value for s in OPEN_STATUSES]))
        .order_by(Incident.opened_at.desc(), Incident.id.desc())
    ).all())
    closed = list(session.scalars(
        select(Incident).where(Incident.status.not_in([s.value for s in OPEN_STATUSES]))
        .order_by(Incident.closed_at.desc(), Incident.id.desc()).limit(recent_closed)
    ).all())
    return open_, closed


@dataclass(frozen=True)
class Event:
    at: datetime
    kind: str
    actor: str
    body: str | None
    # The line as a short sentence ("Layer 1 (verifiers) alerted: 2 people."), from `describe`.
    sentence: str
    id: int = 0
    # Numbers typed into the body are masked; a coordinator may reveal them (see `reveal`).
    masked: bool = False


def _people(n: int) -> str:
    return f"{n} {'person' if n == 1 else 'people'}"


# How an alert call ended without a keypress, as a coordinator reads it.
CALL_OUTCOMES = {
    "busy": "busy", "no-answer": "no answer", "canceled": "canceled", "failed": "the call failed",
    "completed": "answered, but no key pressed", "machine": "voicemail answered",
}


def describe(kind: str, detail: dict[str, Any], layer_names: dict[int, str]) -> str:
    """A thread event as the short sentence a coordinator reads. Every event's wording lives here;
    a kind this does not know still reads as words, never as raw keys and values."""

    def layer(key: str = "layer") -> str:
        number = detail.get(key)
        if not isinstance(number, int):
            return ""
        name = layer_names.get(number)
        return f"layer {number} ({name})" if name else f"layer {number}"

    def in_layer() -> str:
        number = detail.get("layer")
        if not isinstance(number, int):
            return ""
        name = layer_names.get(number)
        return f" (layer {number}, {name})" if name else f" (layer {number})"

    def zone() -> str:
        return mask_phone_numbers(str(detail.get("zone") or ""))

    if kind == "report":
        return f"Report received for zone {zone()}." if zone() else "Report received; no zone named."
    if kind == "drill":
        return f"Drill started for zone {zone()}: every text is marked DRILL." if zone() \
            else "Drill started: every text is marked DRILL."
    if kind == "layer_alerted":
        people = detail.get("recipients")
        sentence = f"{layer().capitalize() or 'A layer'} alerted"
        sentence += f": {_people(people)}" if isinstance(people, int) else ""
        if isinstance(detail.get("wave"), int):
            sentence += " in the first wave"
        left = [f"{detail['paused']} paused, not alerted" if isinstance(detail.get("paused"), int) else "",
                f"{detail['off_duty']} off duty, alerted to reach the quorum"
                if isinstance(detail.get("off_duty"), int) else ""]
        sentence += "".join(f"; {part}" for part in left if part)
        return sentence + (", before the report was verified." if detail.get("unverified") else ".")
    if kind == "wave_alerted":
        people = detail.get("recipients")
        wave = detail.get("wave")
        return (f"{layer().capitalize() or 'A layer'}: wave {wave if isinstance(wave, int) else ''} alerted"
                f"{': ' + _people(people) if isinstance(people, int) else ''} (quorum not reached yet).")
    if kind == "layer_skipped":
        return f"{layer().capitalize() or 'A layer'} skipped: nobody in it to alert."
    by_call = " by call" if detail.get("by") == "call" else ""
    if kind == "acknowledged":
        return f"On the way{in_layer()}{by_call}."
    if kind == "declined":
        return f"Can't come{in_layer()}{by_call}."
    if kind == "not_reached":
        outcome = CALL_OUTCOMES.get(str(detail.get("outcome")), "ended without a key pressed")
        return f"Not reached by call{in_layer()}: {outcome}; still counted as not answered."
    if kind == "status":
        was, now = detail.get("from"), detail.get("to")
        if isinstance(now, str):
            since = f" (was {status_label(was)})" if isinstance(was, str) else ""
            return f"Marked {status_label(now)}{since}."
        return "Status changed."
    if kind == "reply":
        return "Reply by text; passed on to the coordinators and those on the way."
    if kind == "note":
        return "Note (only coordinators see it)."
    if kind == "team_message":
        people = detail.get("recipients")
        return (f"Message from the console, texted to {_people(people)} on the way."
                if isinstance(people, int) else "Message from the console, texted to those on the way.")
    if kind == "nobody_alerted":
        return "Nobody could be alerted: every layer of this tree is empty."
    if kind == "covered":
        return "Covered: enough responders are on the way, so later layers are not alerted."
    if kind == "delivery":
        name = "Alert call" if by_call else TEXT_NAMES.get(str(detail.get("purpose")), "Text")
        status = str(detail.get("status") or "updated").replace("_", " ")
        error = detail.get("error")
        return f"{name}{in_layer()}: {status} (provider's report)" + (f", error {error}." if error else ".")
    if kind.endswith("_sent"):
        to = layer()
        if detail.get("by") == "call":
            name = CALL_NAMES.get(kind.removesuffix("_sent"), "Call")
            return f"{name}{' to ' + to if to else ''} placed."
        name = TEXT_NAMES.get(kind.removesuffix("_sent"), "Text")
        return f"{name}{' to ' + to if to else ''} handed to the provider."
    words = kind.replace("_", " ").capitalize() or "Event"
    facts = ", ".join(f"{str(k).replace('_', ' ')} {mask_phone_numbers(str(v))}" for k, v in detail.items()
                      if v is not None and v != "" and v is not False)
    return f"{words}: {facts}." if facts else f"{words}."


@dataclass(frozen=True)
class LayerLine:
    """One layer of one incident, in the figures a coordinator acts on (the board and the incident page)."""

    number: int
    name: str
    verifies: bool
    quorum: int
    status: str
    recipients: int  # alerted
    alerted_at: datetime | None
    # When the next layer goes if this one's quorum is not met; only on the layer that decides it.
    next_due: datetime | None
    delivered: int = 0  # alert texts the provider reported delivered
    on_the_way: int = 0  # said YES
    declined: int = 0  # said NO


Figures = dict[tuple[int, int], Counter[str]]


def layer_figures(session: Session, incident_ids: list[int]) -> Figures:
    """Per (incident, layer): alert texts delivered, YES and NO answers — two grouped queries for
    any number of incidents."""
    figures: Figures = defaultdict(Counter)
    if not incident_ids:
        return figures
    delivered = session.execute(
        select(OutboundMessage.incident_id, OutboundMessage.layer, func.count())
        .where(OutboundMessage.incident_id.in_(incident_ids), OutboundMessage.purpose == Purpose.ALERT.value,
               OutboundMessage.status == DeliveryStatus.DELIVERED.value)
        .group_by(OutboundMessage.incident_id, OutboundMessage.layer)
    ).all()
    for incident_id, layer, n in delivered:
        figures[(int(incident_id or 0), int(layer or 0))]["delivered"] += int(n)
    answers = session.execute(
        select(Acknowledgement.incident_id, Acknowledgement.layer, Acknowledgement.answer, func.count())
        .where(Acknowledgement.incident_id.in_(incident_ids))
        .group_by(Acknowledgement.incident_id, Acknowledgement.layer, Acknowledgement.answer)
    ).all()
    for incident_id, layer, answer, n in answers:
        figures[(int(incident_id), int(layer or 0))]["yes" if answer == "yes" else "no"] += int(n)
    return figures


def layer_lines(cipher: FieldCipher, incident: Incident, figures: Figures) -> list[LayerLine]:
    tree = incidents.plan_of(cipher, incident)
    due = next_layer_due(incident)
    lines = []
    for lay in incident.layers:
        spec = tree.layer(lay.number)
        counts = figures.get((incident.id, lay.number), Counter())
        lines.append(LayerLine(
            number=lay.number, name=spec.name if spec else f"layer {lay.number}",
            verifies=bool(spec and spec.verifies), quorum=spec.quorum if spec else 0, status=lay.status,
            recipients=lay.recipients, alerted_at=lay.alerted_at,
            next_due=due[1] if due is not None and due[0] == lay.number else None,
            delivered=counts["delivered"], on_the_way=counts["yes"], declined=counts["no"],
        ))
    return lines


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
        self._sent_to: dict[int, bytes] | None = None

    def name(self, event: ThreadEvent) -> str:
        if event.participant_id is not None and event.participant_id in self.participants:
            return self._participant(self.participants[event.participant_id])
        if event.actor == incidents.REPORTER:
            return f"reporter {self._masked(self.incident.reporter_token)}"
        message = event.detail.get("message") if event.kind.endswith("_sent") else None
        if event.kind == "delivery" and event.actor.startswith("message "):
            message = parse_id(event.actor.removeprefix("message "))
        if isinstance(message, int):
            return self._recipient(message) or event.actor
        return event.actor

    def _recipient(self, message_id: int) -> str | None:
        """The masked number a text of this incident went to; all of them read in one query."""
        if self._sent_to is None:
            self._sent_to = {int(i): token for i, token in self.session.execute(
                select(OutboundMessage.id, OutboundMessage.to_token)
                .where(OutboundMessage.incident_id == self.incident.id))}
        token = self._sent_to.get(message_id)
        return self._masked(token) if token is not None else None

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
    layer_names = {layer.number: layer.name for layer in tree.layers}
    events = []
    for e in session.scalars(select(ThreadEvent).where(ThreadEvent.incident_id == incident.id)
                             .order_by(ThreadEvent.at, ThreadEvent.id)):
        body, hidden = masked(readable(cipher, e.body_token), reveal == e.id)
        events.append(Event(at=e.at, kind=e.kind, actor=actors.name(e), body=body,
                            sentence=describe(e.kind, e.detail or {}, layer_names), id=e.id, masked=hidden))
    layers = layer_lines(cipher, incident, layer_figures(session, [incident.id]))
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


def team_message_sent(session: Session, incident_id: int, key: str) -> bool:
    """Whether the console message with this form key was already passed on (a double click, a
    reload, a back-button resubmit, two tabs)."""
    return session.scalar(select(OutboundMessage.id).where(
        OutboundMessage.incident_id == incident_id,
        OutboundMessage.dedupe_key.like(f"{TEAM_MESSAGE}:{key}:%")).limit(1)) is not None


TEAM_MESSAGE = "team"


def message_on_the_way(svc: Services, session: Session, incident: Incident, coordinator_id: int, text: str,
                       key: str, now: datetime) -> Outcome:
    """A coordinator's message from the incident page, texted to everyone on the way — through the
    same path as a member's reply by text (responses.pass_on), and once per form `key`."""
    text = text.strip()
    code = incident.code
    if not text:
        return Outcome(False, "Write the message first; nothing was sent.")
    if not incident.is_open:
        return Outcome(False, f"{code} is closed; nothing was sent.")
    if team_message_sent(session, incident.id, key):
        return Outcome(False, "That message was already sent.")
    on_the_way = incidents.responders_who_said_yes(session, svc.cipher, incident.id)
    if not on_the_way:
        return Outcome(False, f"Nobody has said they are on the way to {code} yet; nothing was sent.")
    incidents.append(session, svc.cipher, incident.id, "team_message", now, actor=coordinator_actor(coordinator_id),
                     body=text, detail={"recipients": len(on_the_way)})
    sent = pass_on(svc, session, incident, on_the_way, "coordinator", text, f"{TEAM_MESSAGE}:{key}", now)
    people = "1 person" if len(on_the_way) == 1 else f"{len(on_the_way)} people"
    return Outcome(True, f"Message texted to the {people} on the way to {code}.", AfterCommit(send_ids=sent))
