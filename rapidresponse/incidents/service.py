"""Incidents: opening one from a report, the thread, answers, and status changes.

Functions take a Session and return what the caller must do after commit (ids to send, timers
to set); they never call the provider or Redis themselves.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select, Table, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from rapidresponse.i18n import render
from rapidresponse.incidents.codes import candidate_codes
from rapidresponse.incidents.models import Acknowledgement, Incident, IncidentLayer, Participant, ThreadEvent
from rapidresponse.incidents.states import OPEN_STATUSES, IncidentStatus, LayerStatus
from rapidresponse.members.models import Member, MemberStatus, MemberTag, Role
from rapidresponse.members.registry import RECIPIENT_COLUMNS, Recipient, has_role, in_layers, recipients, role_tag
from rapidresponse.messaging import outbox
from rapidresponse.messaging.models import DeliveryStatus, OutboundMessage, Purpose
from rapidresponse.privacy.crypto import FieldCipher
from rapidresponse.privacy.masking import mask_phone
from rapidresponse.trees.model import Tree

_rng = random.SystemRandom()


class IncidentError(Exception):
    """An incident could not be opened or changed."""


@dataclass
class AfterCommit:
    """Work a service leaves for its caller once the transaction has committed."""

    send_ids: list[int] = field(default_factory=list)
    timers: list[tuple[int, datetime]] = field(default_factory=list)  # (incident id, when to look again)
    start_incident: int | None = None
    plans: list[tuple[int, int]] = field(default_factory=list)  # (incident id, layer) still being planned

    def extend(self, other: AfterCommit) -> None:
        self.send_ids.extend(other.send_ids)
        self.timers.extend(other.timers)
        self.plans.extend(other.plans)
        if other.start_incident is not None:
            self.start_incident = other.start_incident


REPORTER = "reporter"  # a reporter who is not a member: the incident's own (encrypted) reporter


def label(cipher: FieldCipher, member: Member) -> str:
    """What a member is called in a thread or relay, before their number: their highest role."""
    if has_role(cipher, member, Role.COORDINATOR):
        return "coordinator"
    if has_role(cipher, member, Role.RESPONDER):
        return "responder"
    return "member"


def who(member: Member | None, cipher: FieldCipher, phone: str | None = None) -> str:
    """How a person appears in a relayed text: role and the last four digits, nothing more."""
    if member is None:
        return f"{REPORTER} {mask_phone(phone)}"
    number = cipher.decrypt(member.phone_token) if member.phone_token is not None else phone
    return f"{label(cipher, member)} {mask_phone(number)}"


def participant_tag(cipher: FieldCipher, incident_id: int, member_id: int) -> str:
    return cipher.tag(f"participant:{incident_id}:{member_id}")


def participant(session: Session, cipher: FieldCipher, incident_id: int, member: Member) -> Participant:
    """The member's pseudonym in this incident: the next number the first time they appear in it."""
    tag = participant_tag(cipher, incident_id, member.id)
    query = select(Participant).where(Participant.incident_id == incident_id, Participant.member_tag == tag)
    for _ in range(5):
        found = session.scalar(query)
        if found is not None:
            return found
        number = (session.scalar(select(func.max(Participant.number)).where(
            Participant.incident_id == incident_id)) or 0) + 1
        named = Participant(incident_id=incident_id, number=number, member_tag=tag,
                            member_token=cipher.encrypt(str(member.id)),
                            label_token=cipher.encrypt(label(cipher, member)))
        try:
            with session.begin_nested():
                session.add(named)
                session.flush()
        except IntegrityError:
            continue  # another worker named someone (or this member) at the same moment: look again
        return named
    raise IncidentError("could not give a participant a pseudonym")


def participant_members(session: Session, cipher: FieldCipher, participant_ids: Select[int]) -> set[int]:
    """The member ids behind these participants (those not yet forgotten)."""
    tokens = session.scalars(select(Participant.member_token).where(
        Participant.id.in_(participant_ids), Participant.member_token.is_not(None))).all()
    return {int(cipher.decrypt(token)) for token in tokens if token is not None}


_THREAD_LINE = insert(cast(Table, ThreadEvent.__table__))
_INCIDENT_LAYERS = insert(cast(Table, IncidentLayer.__table__))


def append(session: Session, cipher: FieldCipher, incident_id: int, kind: str, now: datetime, *,
           actor: str = "", member: Member | None = None, body: str | None = None,
           detail: dict[str, Any] | None = None) -> None:
    """Add one event to an incident's thread: a member's under their pseudonym, others' under `actor`.

    Once the incident is closed its participants are forgotten, and a member's late line names
    only their role."""
    named = None
    if member is not None:
        if is_closed(session, incident_id):
            actor = label(cipher, member)
        else:
            named = participant(session, cipher, incident_id, member)
    # On the table, at once: a thread line is never changed once written, and the ORM's unit of
    # work around one insert cost more than the insert (the next query's autoflush paid it).
    session.connection().execute(_THREAD_LINE, {
        "incident_id": incident_id, "at": now, "kind": kind, "actor": "" if named else actor,
        "participant_id": named.id if named else None,
        "body_token": cipher.encrypt(body) if body else None, "detail": detail or {},
    })


def is_closed(session: Session, incident_id: int) -> bool:
    incident = session.get(Incident, incident_id)
    return incident is not None and incident.closed_at is not None


def forget_members(session: Session, incident_id: int) -> None:
    """A closed incident keeps how many answered and what happened, not who: its participants
    (whom acknowledgements and thread lines point at) lose the member behind their pseudonym."""
    session.execute(update(Participant).where(Participant.incident_id == incident_id)
                    .values(member_tag=None, member_token=None))


def seal_plan(cipher: FieldCipher, tree: Tree) -> bytes:
    return cipher.encrypt(json.dumps(tree.freeze()))


def plan_of(cipher: FieldCipher, incident: Incident) -> Tree:
    """The incident's frozen tree (its name, layers, quorums), decrypted."""
    return Tree.thaw(json.loads(cipher.decrypt(incident.plan_token)))


def open_incident(session: Session, cipher: FieldCipher, tree: Tree, *, text: str, reporter_phone: str,
                  reporter: Member | None, inbound_id: int | None, now: datetime,
                  zone: str | None = None, drill: bool = False, actor: str = REPORTER) -> Incident:
    """A report opens an incident with a fresh short code; its tree is frozen onto it. A drill is
    opened the same way by a coordinator (`actor`), its first line "drill" instead of "report"."""
    if inbound_id is not None:
        existing = session.scalar(select(Incident).where(Incident.inbound_message_id == inbound_id))
        if existing is not None:
            return existing
    row = {
        "status": IncidentStatus.REPORTED.value,
        "zone": zone if zone is not None else (reporter.zone if reporter else None),
        "text_token": cipher.encrypt(text), "reporter_index": cipher.blind_index(reporter_phone),
        "reporter_token": cipher.encrypt(reporter_phone), "reporter_member_id": reporter.id if reporter else None,
        "inbound_message_id": inbound_id, "plan_token": seal_plan(cipher, tree), "opened_at": now,
        "verified": False, "unverified_escalation": False, "covered_at": None, "closed_at": None, "drill": drill,
    }
    taken = {code for code in session.scalars(select(Incident.open_code).where(Incident.open_code.is_not(None)))
             if code is not None}
    for code in candidate_codes(_rng, taken):
        incident = outbox.insert_unless_taken(session, Incident, {**row, "code": code, "open_code": code})
        if incident is None:
            if inbound_id is not None:  # this text's retry, at the same moment, may have opened it
                existing = session.scalar(select(Incident).where(Incident.inbound_message_id == inbound_id))
                if existing is not None:
                    return existing
            continue  # that code is taken by an open incident; try the next
        session.connection().execute(_INCIDENT_LAYERS, [{"incident_id": incident.id, "number": layer.number}
                                                        for layer in tree.layers])
        append(session, cipher, incident.id, "drill" if drill else "report", now, actor=actor,
               member=None if drill else reporter, body=text, detail={"zone": incident.zone})
        return incident
    raise IncidentError("no free incident code")


def marked(incident: Incident, language: str, body: str) -> str:
    """Every text about a drill says so, in the member's language (DRILL: / SIMULACRO:)."""
    return render("drill.marker", language, text=body) if incident.drill else body


def find_open_by_code(session: Session, code: str) -> Incident | None:
    return session.scalar(select(Incident).where(Incident.open_code == code.upper()))


def open_incidents_for(session: Session, member: Member | None, phone_index: str) -> list[Incident]:
    """Open incidents this person is part of (alerted, or reported), most recent alert first."""
    by_recency: dict[int, datetime] = {}
    if member is not None:
        rows = session.execute(
            select(OutboundMessage.incident_id, func.max(OutboundMessage.created_at))
            .join(Incident, Incident.id == OutboundMessage.incident_id)
            .where(OutboundMessage.member_id == member.id, OutboundMessage.purpose == Purpose.ALERT.value,
                   Incident.open_code.is_not(None))
            .group_by(OutboundMessage.incident_id)
        ).all()
        by_recency.update({int(i): t for i, t in rows if i is not None})
    for incident_id, opened in session.execute(
        select(Incident.id, Incident.opened_at).where(Incident.reporter_index == phone_index,
                                                      Incident.open_code.is_not(None))
    ):
        by_recency.setdefault(incident_id, opened)
    if not by_recency:
        return []
    incidents = session.scalars(select(Incident).where(Incident.id.in_(by_recency))).all()
    return sorted(incidents, key=lambda i: by_recency[i.id], reverse=True)


def alerted_layer(session: Session, incident_id: int, member_id: int) -> int | None:
    return session.scalar(
        select(OutboundMessage.layer).where(
            OutboundMessage.incident_id == incident_id, OutboundMessage.member_id == member_id,
            OutboundMessage.purpose == Purpose.ALERT.value,
        ).limit(1)
    )


def yes_by_layer(session: Session, incident_id: int) -> Counter[int]:
    rows = session.execute(
        select(Acknowledgement.layer, func.count()).where(
            Acknowledgement.incident_id == incident_id, Acknowledgement.answer == "yes"
        ).group_by(Acknowledgement.layer)
    ).all()
    return Counter({int(layer or 0): int(n) for layer, n in rows})


@dataclass(frozen=True)
class Answer:
    """What recording a YES or NO changed."""

    recorded: bool  # False when the same answer was already recorded
    answer: str
    layer: int | None
    first: bool = False  # the member's first answer to this incident (a NO then a YES is one answer)


def record_answer(session: Session, cipher: FieldCipher, incident: Incident, member: Member, answer: str,
                  now: datetime, *, by: str = "sms") -> Answer:
    """YES (on my way) or NO from a responder. A YES after a NO counts; a repeat does nothing. The
    thread line says "by call" for a key pressed during an alert call."""
    layer = alerted_layer(session, incident.id, member.id)
    named = participant(session, cipher, incident.id, member)
    existing = session.scalar(select(Acknowledgement).where(
        Acknowledgement.incident_id == incident.id, Acknowledgement.participant_id == named.id))
    if existing is not None and existing.answer == answer:
        return Answer(recorded=False, answer=answer, layer=layer)
    if existing is None:
        session.add(Acknowledgement(incident_id=incident.id, participant_id=named.id, layer=layer, answer=answer,
                                    at=now))
    else:
        existing.answer, existing.at = answer, now
    append(session, cipher, incident.id, "acknowledged" if answer == "yes" else "declined", now,
           member=member, detail={"layer": layer, **({"by": by} if by != "sms" else {})})
    session.flush()
    return Answer(recorded=True, answer=answer, layer=layer, first=existing is None)


def may_decide(cipher: FieldCipher, incident: Incident, member: Member) -> bool:
    """Verifiers of the incident's tree and coordinators may confirm, stand down or resolve it."""
    if has_role(cipher, member, Role.COORDINATOR):
        return True
    tree = plan_of(cipher, incident)
    return in_layers(cipher, member, tree.name, [layer.number for layer in tree.layers if layer.verifies])


def set_status(session: Session, cipher: FieldCipher, incident: Incident, status: IncidentStatus, now: datetime,
               *, actor: str, member: Member | None = None) -> bool:
    """Move an incident to `status`; closing frees its code and stops layers not yet alerted."""
    if not incident.is_open or incident.status == status.value:
        return False
    old = incident.status
    incident.status = status.value
    if status == IncidentStatus.CONFIRMED:
        incident.verified = True
    if status not in OPEN_STATUSES:
        incident.open_code = None
        incident.closed_at = now
        session.execute(
            update(IncidentLayer)
            .where(IncidentLayer.incident_id == incident.id, IncidentLayer.status == LayerStatus.WAITING.value)
            .values(status=LayerStatus.NOT_NEEDED.value)
        )
    append(session, cipher, incident.id, "status", now, actor=actor, member=member,
           detail={"from": old, "to": status.value})
    if incident.closed_at is not None:
        forget_members(session, incident.id)
    return True


def cancel_unsent(session: Session, incident_id: int, now: datetime) -> int:
    """Texts for this incident not yet handed to the provider will not be sent."""
    result = session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.incident_id == incident_id, OutboundMessage.status == DeliveryStatus.PENDING.value,
               OutboundMessage.purpose == Purpose.ALERT.value)
        .values(status=DeliveryStatus.CANCELLED.value, status_at=now)
    )
    return int(getattr(result, "rowcount", 0) or 0)


ALERTED_CHUNK = 500  # members read (and, by escalation.notify, texted) at a time


def alerted_members(session: Session, incident_id: int) -> Iterator[Recipient]:
    """Members an alert for this incident went (or may have gone) out to, by member id: their ids
    in one statement, then their numbers ALERTED_CHUNK at a time, so a 100,000-member layer's
    stand-down or "covered" text never holds every member's row at once (measured: 161 MB)."""
    alerted = select(OutboundMessage.member_id).where(
        OutboundMessage.incident_id == incident_id, OutboundMessage.purpose == Purpose.ALERT.value,
        OutboundMessage.status.not_in([DeliveryStatus.PENDING.value, DeliveryStatus.CANCELLED.value,
                                       DeliveryStatus.EXPIRED.value]),
    )
    ids = list(session.scalars(select(Member.id).where(
        Member.id.in_(alerted), Member.status != MemberStatus.OPTED_OUT.value).order_by(Member.id)).all())
    for start in range(0, len(ids), ALERTED_CHUNK):
        yield from recipients(session, select(*RECIPIENT_COLUMNS).where(
            Member.id.in_(ids[start : start + ALERTED_CHUNK])).order_by(Member.id))


def coordinators(session: Session, cipher: FieldCipher) -> list[Recipient]:
    return recipients(session, select(*RECIPIENT_COLUMNS).join(MemberTag).where(
        MemberTag.tag == role_tag(cipher, Role.COORDINATOR), Member.status == MemberStatus.ACTIVE.value))


def answered(session: Session, cipher: FieldCipher, incident_id: int, answer: str | None = None) -> set[int]:
    """Ids of the members who answered (yes, no, or either), through their participants."""
    query = select(Acknowledgement.participant_id).where(Acknowledgement.incident_id == incident_id)
    if answer is not None:
        query = query.where(Acknowledgement.answer == answer)
    return participant_members(session, cipher, query)


def responders_who_said_yes(session: Session, cipher: FieldCipher, incident_id: int) -> list[Recipient]:
    ids = answered(session, cipher, incident_id, "yes")
    return recipients(session, select(*RECIPIENT_COLUMNS).where(
        Member.id.in_(ids), Member.status == MemberStatus.ACTIVE.value))
