"""Applying the escalation policy: alerting a layer (fan-out planning) and marking coverage.

Every change is guarded by a conditional UPDATE on the layer's status, so a duplicate timer, a
stale job and the periodic sweep can all run `evaluate` at once and only one of them acts.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.orm import Session

from rapidresponse.alertcalls.keypad import spell_code
from rapidresponse.escalation.policy import Decision, LayerState, Step, decide, due_at
from rapidresponse.i18n import MissingMessageError, render
from rapidresponse.incidents import service as incidents
from rapidresponse.incidents.models import Incident, IncidentLayer, ThreadEvent
from rapidresponse.incidents.service import AfterCommit
from rapidresponse.incidents.states import IncidentStatus, LayerStatus
from rapidresponse.members.models import CALLABLE_CODES, Channel, Member, MemberStatus, MemberTag
from rapidresponse.members.registry import RECIPIENT_COLUMNS, Recipient, layer_tag, recipients
from rapidresponse.messaging import outbox
from rapidresponse.messaging.models import Channel as MessageChannel
from rapidresponse.messaging.models import DeliveryStatus, OutboundMessage, Purpose
from rapidresponse.privacy.masking import mask_phone_numbers
from rapidresponse.services import Services
from rapidresponse.trees.model import Layer, Tree

REPORT_EXCERPT = 100


def tree_label(tree: str, language: str) -> str:
    try:
        return render(f"tree.{tree}", language)
    except MissingMessageError:
        return tree.upper()


def _alert_parts(incident: Incident, tree: str, text: str, language: str) -> dict[str, str]:
    if incident.verified:
        marker = render("alert.verified", language)
    elif incident.unverified_escalation:
        marker = render("alert.unverified", language)
    else:
        marker = render("alert.reported", language)
    where = render("where.zone", language, zone=incident.zone) if incident.zone else render("where.unknown", language)
    text = mask_phone_numbers(text)  # a number typed into the report is nobody's business on a responder's phone
    excerpt = text if len(text) <= REPORT_EXCERPT else text[: REPORT_EXCERPT - 1] + "…"
    return {"tree_label": tree_label(tree, language), "where": where, "text": excerpt, "verified_label": marker}


def alert_body(incident: Incident, tree: str, text: str, language: str) -> str:
    return render("alert.text", language, code=incident.code, **_alert_parts(incident, tree, text, language))


def call_script(incident: Incident, tree: str, text: str, language: str) -> str:
    """What an alert call says (then it waits for 1, 2 or *): the alert, its code spelled out."""
    return render("voice.alert", language, code=spell_code(incident.code),
                  **_alert_parts(incident, tree, text, language))


def alertable() -> ColumnElement[bool]:
    """Members an alert can reach: active, and a number that takes texts, or a landline on voice."""
    return (Member.status == MemberStatus.ACTIVE.value) & (
        Member.undeliverable_code.is_(None)
        | ((Member.channel != Channel.SMS.value) & Member.undeliverable_code.in_(CALLABLE_CODES)))


def channels_of(session: Session, member_ids: list[int]) -> dict[int, tuple[Channel, bool]]:
    """Each member's channel, and whether their number takes texts."""
    found: dict[int, tuple[Channel, bool]] = {}
    for start in range(0, len(member_ids), 500):
        for member_id, channel, undeliverable in session.execute(
                select(Member.id, Member.channel, Member.undeliverable_code)
                .where(Member.id.in_(member_ids[start : start + 500]))):
            found[member_id] = (Channel(channel), undeliverable is None)
    return found


def layer_recipients(svc: Services, session: Session, incident: Incident, tree: str,
                     layer: Layer) -> list[Recipient]:
    """Reachable members of the layer, the report's zone first when the layer asks for it.

    One indexed look-up of the layer's keyed tag: only a holder of DATA_KEY can ask it."""
    found = recipients(session, select(*RECIPIENT_COLUMNS).join(MemberTag).where(
        MemberTag.tag == layer_tag(svc.cipher, tree, layer.number), alertable(),
    ).order_by(Member.id))
    members = [m for m in found if m.id != incident.reporter_member_id]
    if layer.zone_first and incident.zone:
        members.sort(key=lambda m: m.zone != incident.zone)  # stable: zone members first, then the rest
    return members


def anyone_to_alert(svc: Services, session: Session, incident: Incident, tree: Tree) -> bool:
    """Whether any layer of the tree holds someone an alert could reach (the reporter aside)."""
    tags = [layer_tag(svc.cipher, tree.name, lay.number) for lay in tree.layers]
    query = select(Member.id).join(MemberTag).where(MemberTag.tag.in_(tags), alertable())
    if incident.reporter_member_id is not None:
        query = query.where(Member.id != incident.reporter_member_id)
    return session.scalar(query.limit(1)) is not None


def alert_layer(svc: Services, session: Session, incident: Incident, tree: Tree, layer: Layer, now: datetime,
                *, unverified: bool = False) -> AfterCommit:
    """Claim the layer (WAITING -> ALERTED/SKIPPED) and record each member's alert: a text, a call, or
    both, by the member's channel (dedupe keys `alert:{incident}:{member}` and `...:voice`)."""
    after = AfterCommit()
    recipients = layer_recipients(svc, session, incident, tree.name, layer)
    status = LayerStatus.ALERTED if recipients else LayerStatus.SKIPPED
    claimed = session.execute(
        update(IncidentLayer)
        .where(IncidentLayer.incident_id == incident.id, IncidentLayer.number == layer.number,
               IncidentLayer.status == LayerStatus.WAITING.value)
        .values(status=status.value, alerted_at=now, due_at=due_at(now, layer.wait_seconds),
                recipients=len(recipients))
    )
    if getattr(claimed, "rowcount", 0) != 1:
        return after  # someone else alerted (or stopped) this layer
    if unverified and not incident.verified:
        incident.unverified_escalation = True
    if layer.verifies and recipients and incident.status == IncidentStatus.REPORTED.value:
        # "verifying" only when a verifier was actually alerted
        incident.status = IncidentStatus.VERIFYING.value
    incidents.append(session, svc.cipher, incident.id, "layer_alerted" if recipients else "layer_skipped", now,
                     actor="system", detail={"layer": layer.number,
                                             "recipients": len(recipients), "unverified": unverified})
    if not recipients:
        after.extend(evaluate(svc, session, incident.id, now))
        return after
    text = svc.cipher.decrypt(incident.text_token)
    bodies: dict[str, str] = {}
    scripts: dict[str, str] = {}
    valid_until = now + timedelta(seconds=svc.settings.alert_validity_seconds)
    channels = channels_of(session, [member.id for member in recipients])
    texts = []
    for member in recipients:
        channel, takes_texts = channels.get(member.id, (Channel.SMS, True))
        to = outbox.SealedNumber(member.phone_index, member.phone_token)
        if channel.texts and takes_texts:
            if member.language not in bodies:
                bodies[member.language] = alert_body(incident, tree.name, text, member.language)
            texts.append(outbox.Text(
                to=to, body=bodies[member.language], purpose=Purpose.ALERT,
                dedupe_key=f"alert:{incident.id}:{member.id}", member_id=member.id, incident_id=incident.id,
                layer=layer.number, valid_until=valid_until,
            ))
        if channel.calls:
            if member.language not in scripts:
                scripts[member.language] = call_script(incident, tree.name, text, member.language)
            texts.append(outbox.Text(
                to=to, body=scripts[member.language], purpose=Purpose.ALERT, channel=MessageChannel.VOICE,
                dedupe_key=call_dedupe_key(incident.id, member.id), member_id=member.id,
                incident_id=incident.id, layer=layer.number, valid_until=valid_until,
            ))
    after.send_ids.extend(outbox.record(session, svc.cipher, texts, now))
    after.timers.append((incident.id, due_at(now, layer.wait_seconds)))
    return after


def call_dedupe_key(incident_id: int, member_id: int) -> str:
    """A member gets at most one alert call per incident, planned or a text's fallback."""
    return f"alert:{incident_id}:{member_id}:voice"


def layer_states(incident: Incident) -> dict[int, LayerState]:
    return {lay.number: LayerState(LayerStatus(lay.status), lay.due_at) for lay in incident.layers}


def evaluate(svc: Services, session: Session, incident_id: int, now: datetime) -> AfterCommit:
    """Look at an incident and do what the policy says is due now."""
    after = AfterCommit()
    incident = session.get(Incident, incident_id, populate_existing=True)
    if incident is None:
        return after
    session.refresh(incident, ["layers"])
    tree = incidents.plan_of(svc.cipher, incident)
    decision: Decision = decide(
        tree, layer_states(incident), incidents.yes_by_layer(session, incident.id),
        is_open=incident.is_open, confirmed=incident.verified, covered=incident.covered_at is not None, now=now,
    )
    if decision.step == Step.ALERT_NEXT and decision.layer is not None:
        layer = tree.layer(decision.layer)
        assert layer is not None
        after.extend(alert_layer(svc, session, incident, tree, layer, now, unverified=decision.unverified))
    elif decision.step == Step.COVERED:
        after.extend(mark_covered(svc, session, incident, now))
    elif decision.step == Step.WAIT and decision.at is not None:
        after.timers.append((incident.id, decision.at))
    elif incident.is_open and all(lay.status == LayerStatus.SKIPPED.value for lay in incident.layers):
        after.extend(nobody_to_alert(svc, session, incident, now))
    return after


def nobody_to_alert(svc: Services, session: Session, incident: Incident, now: datetime) -> AfterCommit:
    """Every layer of the tree was empty: the coordinators must know at once (once)."""
    told = session.scalar(select(ThreadEvent.id).where(ThreadEvent.incident_id == incident.id,
                                                       ThreadEvent.kind == "nobody_alerted").limit(1))
    if told is not None:
        return AfterCommit()
    incidents.append(session, svc.cipher, incident.id, "nobody_alerted", now, actor="system")
    return AfterCommit(send_ids=notify(svc, session, incident, incidents.coordinators(session, svc.cipher),
                                       "incident.nobody",
                                       Purpose.RELAY, now, dedupe="nobody"))


def mark_covered(svc: Services, session: Session, incident: Incident, now: datetime) -> AfterCommit:
    """Enough responders are on the way: stop later layers, tell the others alerted."""
    after = AfterCommit()
    claimed = session.execute(
        update(Incident).where(Incident.id == incident.id, Incident.covered_at.is_(None)).values(covered_at=now)
    )
    if getattr(claimed, "rowcount", 0) != 1:
        return after
    session.execute(
        update(IncidentLayer)
        .where(IncidentLayer.incident_id == incident.id, IncidentLayer.status == LayerStatus.WAITING.value)
        .values(status=LayerStatus.NOT_NEEDED.value)
    )
    incidents.append(session, svc.cipher, incident.id, "covered", now, actor="system")
    answered = incidents.answered(session, svc.cipher, incident.id)
    members = [m for m in incidents.alerted_members(session, incident.id) if m.id not in answered]
    after.send_ids.extend(notify(svc, session, incident, members, "incident.covered", Purpose.COVERED, now))
    return after


def notify(svc: Services, session: Session, incident: Incident, members: list[Recipient], key: str,
           purpose: Purpose, now: datetime, *, dedupe: str | None = None) -> list[int]:
    """Record one text per member, each in their language."""
    texts = [
        outbox.Text(to=outbox.SealedNumber(m.phone_index, m.phone_token),
                    body=render(key, m.language, code=incident.code), purpose=purpose,
                    dedupe_key=f"{dedupe or purpose.value}:{incident.id}:{m.id}", member_id=m.id,
                    incident_id=incident.id)
        for m in members
    ]
    return outbox.record(session, svc.cipher, texts, now)


def due_incidents(session: Session, now: datetime, limit: int = 500) -> list[int]:
    """Open incidents with a layer whose wait is over (or skipped) and a next layer not yet alerted.

    The sweep evaluates these, so an escalation survives a lost Redis timer.
    """
    waiting = select(IncidentLayer.incident_id).where(IncidentLayer.status == LayerStatus.WAITING.value)
    rows = session.scalars(
        select(IncidentLayer.incident_id).join(Incident)
        .where(Incident.open_code.is_not(None), Incident.covered_at.is_(None),
               IncidentLayer.incident_id.in_(waiting),
               ((IncidentLayer.status == LayerStatus.ALERTED.value) & (IncidentLayer.due_at <= now))
               | (IncidentLayer.status == LayerStatus.SKIPPED.value))
        .distinct().limit(limit)
    ).all()
    unstarted = session.scalars(
        select(Incident.id).where(Incident.open_code.is_not(None),
                                  ~Incident.id.in_(select(IncidentLayer.incident_id).where(
                                      IncidentLayer.status != LayerStatus.WAITING.value)))
        .limit(limit)
    ).all()
    return sorted(set(rows) | set(unstarted))


def pending_sends(session: Session, now: datetime, lease_seconds: float, limit: int = 5000) -> list[int]:
    """Texts recorded but not sent: never enqueued (Redis was down) or claimed by a worker that died.
    A broadcast's texts wait their turn for long and have their own chain (broadcasts/sending.py)."""
    stale = now - timedelta(seconds=lease_seconds)
    last_queued = func.coalesce(OutboundMessage.requeued_at, OutboundMessage.created_at)
    return list(session.scalars(
        select(OutboundMessage.id).where(
            ((OutboundMessage.status == DeliveryStatus.PENDING.value) & (last_queued <= stale))
            | ((OutboundMessage.status == DeliveryStatus.SENDING.value) & (OutboundMessage.claimed_at <= stale)),
            OutboundMessage.broadcast_id.is_(None),
        ).order_by(OutboundMessage.id).limit(limit)
    ).all())
