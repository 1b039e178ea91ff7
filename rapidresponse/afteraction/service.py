"""After-action figures from the database: an incident's facts gathered in a few queries, handed to
the pure figures.compute; the drill before it on the same tree; the text coordinators get when an
incident closes.

Read from what every incident keeps anyway (its layers, its alert texts and calls, the YES / NO
lines of its thread, its debriefs), so nothing is stored twice and everything goes with the
incident when retention deletes it. Numbers are shown only masked (…4521).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from rapidresponse.afteraction.figures import (
    AlertFacts,
    AnswerFacts,
    Comparison,
    Figures,
    IncidentFacts,
    LayerFacts,
    compare,
    compute,
    span,
)
from rapidresponse.debriefs.models import Debrief
from rapidresponse.i18n import render
from rapidresponse.incidents import service as incidents
from rapidresponse.incidents.models import Incident, ThreadEvent
from rapidresponse.incidents.states import IncidentStatus
from rapidresponse.messaging import outbox
from rapidresponse.messaging.models import OutboundMessage, Purpose
from rapidresponse.privacy.crypto import DecryptionError, FieldCipher
from rapidresponse.privacy.masking import mask_phone

# How far back to look for the drill before this one (drills are rare; each look decrypts a plan).
EARLIER_DRILLS = 50


def is_drill(incident: Incident) -> bool:
    """Started as a drill, or a report closed as one ("Mark as drill")."""
    return incident.drill or incident.status == IncidentStatus.DRILL.value


def _masked(cipher: FieldCipher, token: bytes) -> str:
    try:
        return mask_phone(cipher.decrypt(token))
    except DecryptionError:
        return "…"


def facts(session: Session, cipher: FieldCipher, incident: Incident) -> IncidentFacts:
    tree = incidents.plan_of(cipher, incident)
    layers = []
    for lay in incident.layers:
        spec = tree.layer(lay.number)
        layers.append(LayerFacts(lay.number, spec.name if spec else f"layer {lay.number}",
                                 bool(spec and spec.verifies), spec.quorum if spec else 0, lay.status,
                                 lay.alerted_at, lay.due_at))
    alerts = [
        AlertFacts(f"m{member_id}" if member_id is not None else f"x{message_id}", int(layer or 0), status,
                   sent_at, status_at, _masked(cipher, token))
        for message_id, member_id, layer, status, sent_at, status_at, token in session.execute(
            select(OutboundMessage.id, OutboundMessage.member_id, OutboundMessage.layer, OutboundMessage.status,
                   OutboundMessage.sent_at, OutboundMessage.status_at, OutboundMessage.to_token)
            .where(OutboundMessage.incident_id == incident.id, OutboundMessage.purpose == Purpose.ALERT.value)
            .order_by(OutboundMessage.id))
    ]
    answers = []
    for kind, participant_id, actor, at, detail in session.execute(
            select(ThreadEvent.kind, ThreadEvent.participant_id, ThreadEvent.actor, ThreadEvent.at, ThreadEvent.detail)
            .where(ThreadEvent.incident_id == incident.id, ThreadEvent.kind.in_(("acknowledged", "declined")))
            .order_by(ThreadEvent.at, ThreadEvent.id)):
        layer = (detail or {}).get("layer")
        person = f"p{participant_id}" if participant_id is not None else f"a{actor}"
        answers.append(AnswerFacts(person, layer if isinstance(layer, int) else None, kind == "acknowledged", at))
    debriefs = list(session.execute(select(Debrief.answer, Debrief.sent_at).where(Debrief.incident_id == incident.id)))
    return IncidentFacts(
        opened_at=incident.opened_at, layers=layers, alerts=alerts, answers=answers, closed_at=incident.closed_at,
        covered_at=incident.covered_at, drill=is_drill(incident),
        debriefs=[answer for answer, _ in debriefs if answer], debriefs_asked=sum(1 for _, s in debriefs if s),
    )


def figures_of(session: Session, cipher: FieldCipher, incident: Incident, now: datetime) -> Figures:
    return compute(facts(session, cipher, incident), now)


def drill_before(session: Session, cipher: FieldCipher, incident: Incident) -> Incident | None:
    """The last closed drill of the same tree that opened before this one."""
    name = incidents.plan_of(cipher, incident).name
    earlier = session.scalars(
        select(Incident).where((Incident.drill.is_(True)) | (Incident.status == IncidentStatus.DRILL.value),
                               Incident.closed_at.is_not(None), Incident.opened_at < incident.opened_at,
                               Incident.id != incident.id)
        .order_by(Incident.opened_at.desc()).limit(EARLIER_DRILLS))
    return next((found for found in earlier if incidents.plan_of(cipher, found).name == name), None)


def comparison(session: Session, cipher: FieldCipher, incident: Incident, figures: Figures,
               now: datetime) -> tuple[Incident | None, Comparison | None]:
    """A drill against the drill before it on the same tree (real incidents are not compared)."""
    if not figures.drill:
        return None, None
    before = drill_before(session, cipher, incident)
    if before is None:
        return None, None
    return before, compare(figures, figures_of(session, cipher, before, now))


def summary_text(code: str, figures: Figures, compared: Comparison | None, language: str) -> str:
    """The short text coordinators get when an incident closes, in their language."""
    kind = render("afteraction.kind_drill" if figures.drill else "afteraction.kind_incident", language)
    parts = [render("afteraction.head", language, code=code, kind=kind, duration=span(figures.duration))]
    alerted = [lay for lay in figures.layers if lay.alerted]
    if alerted:
        layers = ", ".join(render("afteraction.layer", language, number=lay.number, alerted=lay.alerted,
                                  delivered=lay.reached, answered=lay.answered, yes=lay.on_the_way) for lay in alerted)
        parts.append(render("afteraction.layers", language, layers=layers))
    before_yes = compared.first_yes[1] if compared else None
    if figures.yes.first is None:
        parts.append(render("afteraction.no_yes", language))
    elif before_yes is not None:
        parts.append(render("afteraction.first_yes_compared", language, time=span(figures.yes.first),
                            before=span(before_yes)))
    else:
        parts.append(render("afteraction.first_yes", language, time=span(figures.yes.first)))
    if figures.quorum is not None:
        before_quorum = compared.quorum[1] if compared else None
        if before_quorum is not None:
            parts.append(render("afteraction.quorum_compared", language, time=span(figures.quorum),
                                before=span(before_quorum)))
        else:
            parts.append(render("afteraction.quorum", language, time=span(figures.quorum)))
    if figures.never_reached:
        parts.append(render("afteraction.never", language, count=len(figures.never_reached)))
    if figures.escalated:
        parts.append(render("afteraction.escalated", language, layers=", ".join(str(n) for n in figures.escalated)))
    parts.append(render("afteraction.tail", language))
    return " ".join(parts)


def tell_coordinators(session: Session, cipher: FieldCipher, incident: Incident, now: datetime) -> list[int]:
    """When an incident closes: its summary to every coordinator, once (dedupe per incident)."""
    figures = figures_of(session, cipher, incident, now)
    _, compared = comparison(session, cipher, incident, figures, now)
    texts = [
        outbox.Text(to=outbox.SealedNumber(m.phone_index, m.phone_token),
                    body=summary_text(incident.code, figures, compared, m.language), purpose=Purpose.RELAY,
                    dedupe_key=f"afteraction:{incident.id}:{m.id}", member_id=m.id, incident_id=incident.id)
        for m in incidents.coordinators(session, cipher)
    ]
    return outbox.record(session, cipher, texts, now)
