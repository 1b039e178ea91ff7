"""Applying the escalation policy: alerting a layer (fan-out planning) and marking coverage.

Every change is guarded by a conditional UPDATE on the layer's status, so a duplicate timer, a
stale job and the periodic sweep can all run `evaluate` at once and only one of them acts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Select, bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from rapidresponse.alertcalls.keypad import spell_code
from rapidresponse.duty import service as duty
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
PLAN_CHUNK = 500  # members per look-up when a whole layer is listed
# Members recorded with a layer's claim: the first texts go out after this many rows are written,
# not a whole ALERT_BATCH_SIZE (the planner's later chunks are full batches).
FIRST_CHUNK = 100


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
    """The alert text; a drill's says DRILL / SIMULACRO first and asks nobody to go anywhere."""
    return render("drill.alert" if incident.drill else "alert.text", language, code=incident.code,
                  **_alert_parts(incident, tree, text, language))


def call_script(incident: Incident, tree: str, text: str, language: str) -> str:
    """What an alert call says (then it waits for 1, 2 or *): the alert, its code spelled out."""
    return render("voice.drill_alert" if incident.drill else "voice.alert", language, code=spell_code(incident.code),
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


ZONE_PASS, REST_PASS = 0, 1  # a zone-first layer: the report's zone, then everyone else


def layer_members(svc: Services, incident: Incident, tree: str,
                  layer: Layer) -> Select[int, str, bytes | None, str, str | None]:
    """Who in the layer an alert can reach (the reporter aside), as a select of RECIPIENT_COLUMNS.

    The one place that says who a layer's alert goes to: a filter on who is alerted (paused, off
    duty, not on this rotation) is one more condition here. One indexed look-up of the layer's
    keyed tag: only a holder of DATA_KEY can ask it."""
    query = select(*RECIPIENT_COLUMNS).join(MemberTag).where(
        MemberTag.tag == layer_tag(svc.cipher, tree, layer.number), alertable(), Member.phone_token.is_not(None))
    if incident.reporter_member_id is not None:
        query = query.where(Member.id != incident.reporter_member_id)
    return query


def first_pass(incident: Incident, layer: Layer) -> int:
    return ZONE_PASS if layer.zone_first and incident.zone else REST_PASS


@dataclass(frozen=True)
class Chunk:
    """Members to alert next, and where the following chunk starts (pass, after member id)."""

    members: list[Recipient]
    plan_pass: int
    after: int


def next_recipients(svc: Services, session: Session, incident: Incident, tree: str, layer: Layer, *,
                    plan_pass: int, after: int, limit: int, unpaused_at: datetime | None = None) -> Chunk:
    """The next `limit` members to alert after member id `after` in pass `plan_pass`, in planning
    order: the report's zone first when the layer asks for it, then the rest, each by member id
    (a chunk that ends the zone pass is filled up from the rest). Fewer than `limit` means the
    layer is planned. Each look-up walks the (tag, member id) index for at most `limit` rows:
    planning a layer is linear in its size and never holds it all in memory."""
    found: list[Recipient] = []
    while True:
        query = layer_members(svc, incident, tree, layer).where(MemberTag.member_id > after)
        if unpaused_at is not None:  # PAUSE: out of alerts until it ends (duty/)
            query = query.where(or_(Member.paused_until.is_(None), Member.paused_until <= unpaused_at))
        if layer.zone_first and incident.zone:
            query = query.where(Member.zone == incident.zone if plan_pass == ZONE_PASS
                                else or_(Member.zone.is_(None), Member.zone != incident.zone))
        more = recipients(session, query.order_by(MemberTag.member_id).limit(limit - len(found)))
        found.extend(more)
        if more:
            after = more[-1].id
        if len(found) >= limit or plan_pass == REST_PASS:
            return Chunk(found, plan_pass, after)
        plan_pass, after = REST_PASS, 0


def layer_recipients(svc: Services, session: Session, incident: Incident, tree: str,
                     layer: Layer) -> list[Recipient]:
    """Every reachable member of the layer in planning order (the report's zone first when the
    layer asks for it). For small questions and tests: planning itself goes a chunk at a time."""
    everyone: list[Recipient] = []
    chunk = Chunk([], first_pass(incident, layer), 0)
    while True:
        chunk = next_recipients(svc, session, incident, tree, layer, plan_pass=chunk.plan_pass,
                                after=chunk.after, limit=PLAN_CHUNK)
        everyone.extend(chunk.members)
        if len(chunk.members) < PLAN_CHUNK:
            return everyone


def anyone_to_alert(svc: Services, session: Session, incident: Incident, tree: Tree) -> bool:
    """Whether any layer of the tree holds someone an alert could reach (the reporter aside)."""
    tags = [layer_tag(svc.cipher, tree.name, lay.number) for lay in tree.layers]
    if incident.reporter_member_id is None:
        return session.connection().execute(_ANYONE, {"tags": tags}).first() is not None
    return session.connection().execute(_ANYONE_BUT, {"tags": tags, "reporter": incident.reporter_member_id}) \
        .first() is not None


# Asked by every report before the reporter hears back: built once (0.54 -> 0.07 ms of CPU).
_in_layers = select(Member.id).join(MemberTag).where(MemberTag.tag.in_(bindparam("tags", expanding=True)),
                                                     alertable())
_ANYONE = _in_layers.limit(1)
_ANYONE_BUT = _in_layers.where(Member.id != bindparam("reporter")).limit(1)


def alert_layer(svc: Services, session: Session, incident: Incident, tree: Tree, layer: Layer, now: datetime,
                *, unverified: bool = False) -> AfterCommit:
    """Claim the layer (WAITING -> ALERTED/SKIPPED) and record its first FIRST_CHUNK alerts: a text, a
    call, or both per member, by the member's channel (dedupe keys `alert:{incident}:{member}` and
    `...:voice`). A layer bigger than a chunk is left planning (`plan_pass`): `after.plans` names
    it, and `plan_chunk` records the rest a chunk per transaction while the first chunk is sent.
    Paused members are left out. A layer whose order matters (waves, a duty window, members' own
    hours: duty.service.orders_layer) is planned whole instead, by alert_ordered_layer."""
    if duty.orders_layer(session, svc.cipher, tree, layer):
        return alert_ordered_layer(svc, session, incident, tree, layer, now, unverified=unverified)
    after = AfterCommit()
    chunk = min(svc.settings.alert_batch_size, FIRST_CHUNK)
    planned = next_recipients(svc, session, incident, tree.name, layer,
                              plan_pass=first_pass(incident, layer), after=0, limit=chunk, unpaused_at=now)
    first = planned.members
    more = len(first) == chunk
    status = LayerStatus.ALERTED if first else LayerStatus.SKIPPED
    claimed = session.execute(
        update(IncidentLayer)
        .where(IncidentLayer.incident_id == incident.id, IncidentLayer.number == layer.number,
               IncidentLayer.status == LayerStatus.WAITING.value)
        .values(status=status.value, alerted_at=now, due_at=due_at(now, layer.wait_seconds),
                recipients=len(first), plan_pass=planned.plan_pass if more else None,
                planned_through=planned.after if more else 0, planning_at=now if more else None)
    )
    if getattr(claimed, "rowcount", 0) != 1:
        return after  # someone else alerted (or stopped) this layer
    if unverified and not incident.verified:
        incident.unverified_escalation = True
    if layer.verifies and first and incident.status == IncidentStatus.REPORTED.value:
        # "verifying" only when a verifier was actually alerted
        incident.status = IncidentStatus.VERIFYING.value
    # A layer still being planned has no count yet: the layer's row shows it growing.
    counted = {} if more else {"recipients": len(first)}
    incidents.append(session, svc.cipher, incident.id, "layer_alerted" if first else "layer_skipped", now,
                     actor="system", detail={"layer": layer.number, **counted, "unverified": unverified})
    if not first:
        after.extend(evaluate(svc, session, incident.id, now))
        return after
    after.send_ids.extend(record_alerts(svc, session, incident, tree, layer, first, now, alerted_at=now))
    after.timers.append((incident.id, due_at(now, layer.wait_seconds)))
    if more:
        after.plans.append((incident.id, layer.number))
    return after


def alert_ordered_layer(svc: Services, session: Session, incident: Incident, tree: Tree, layer: Layer,
                        now: datetime, *, unverified: bool = False) -> AfterCommit:
    """alert_layer for a layer whose order matters: the whole layer planned at once by duty.plan
    (paused out, off duty only up to the quorum, zone first, least recently alerted first); a layer
    with `wave = N` alerts its first N now and the next wave later (alert_next_wave)."""
    after = AfterCommit()
    planned = duty.plan(session, tree, layer, layer_members(svc, incident, tree.name, layer), now,
                        report_zone=incident.zone)
    chosen = planned.order if layer.wave is None else planned.order[: layer.wave]
    status = LayerStatus.ALERTED if chosen else LayerStatus.SKIPPED
    layer_due = due_at(now, layer.wait_seconds)
    next_wave = _next_wave_at(layer, now, layer_due, more=len(planned.order) > len(chosen))
    claimed = session.execute(
        update(IncidentLayer)
        .where(IncidentLayer.incident_id == incident.id, IncidentLayer.number == layer.number,
               IncidentLayer.status == LayerStatus.WAITING.value)
        .values(status=status.value, alerted_at=now, due_at=layer_due,
                recipients=len(chosen), waves_sent=1 if chosen and layer.wave else 0, next_wave_at=next_wave)
    )
    if getattr(claimed, "rowcount", 0) != 1:
        return after  # someone else alerted (or stopped) this layer
    if unverified and not incident.verified:
        incident.unverified_escalation = True
    if layer.verifies and chosen and incident.status == IncidentStatus.REPORTED.value:
        incident.status = IncidentStatus.VERIFYING.value
    counts = {"paused": planned.plan.paused, "off_duty": planned.plan.off_duty_called}
    incidents.append(session, svc.cipher, incident.id, "layer_alerted" if chosen else "layer_skipped", now,
                     actor="system", detail={"layer": layer.number,
                                             "recipients": len(chosen), "unverified": unverified,
                                             **{k: v for k, v in counts.items() if v},
                                             **({"wave": 1} if layer.wave and chosen else {})})
    if not chosen:
        after.extend(evaluate(svc, session, incident.id, now))
        return after
    # Recorded a chunk at a time (one transaction still): a whole layer's texts and rows built at
    # once took a 100,000-member layer's planning from 128 to 287 MB.
    for start in range(0, len(chosen), PLAN_CHUNK):
        after.send_ids.extend(record_alerts(svc, session, incident, tree, layer, chosen[start : start + PLAN_CHUNK],
                                            now, alerted_at=now))
    after.timers.append((incident.id, min(layer_due, next_wave) if next_wave else layer_due))
    return after


def _next_wave_at(layer: Layer, now: datetime, layer_due: datetime, *, more: bool) -> datetime | None:
    """When the next wave goes if the quorum is not reached: only while someone is left to alert,
    and only before the layer's own wait is over (then the next layer is due instead)."""
    if layer.wave is None or not more or layer.wave_wait_seconds is None:
        return None
    at = now + timedelta(seconds=layer.wave_wait_seconds)
    return at if at < layer_due else None


def alert_next_wave(svc: Services, session: Session, incident: Incident, tree: Tree, layer: Layer,
                    now: datetime) -> AfterCommit:
    """The next wave of a layer alerted in waves: the first `wave` members, in rotation order, not
    alerted for this incident yet. Claimed by a conditional UPDATE on the wave count, so a duplicate
    timer and the sweep send it once."""
    after = AfterCommit()
    row = session.scalar(select(IncidentLayer).where(IncidentLayer.incident_id == incident.id,
                                                     IncidentLayer.number == layer.number))
    if row is None or row.status != LayerStatus.ALERTED.value or row.next_wave_at is None \
            or row.next_wave_at > now or row.due_at is None or layer.wave is None:
        return after
    already = set(session.scalars(select(OutboundMessage.member_id).where(
        OutboundMessage.incident_id == incident.id, OutboundMessage.purpose == Purpose.ALERT.value,
        OutboundMessage.layer == layer.number)).all())
    planned = duty.plan(session, tree, layer, layer_members(svc, incident, tree.name, layer), now,
                        report_zone=incident.zone)
    remaining = [member for member in planned.order if member.id not in already]
    chosen = remaining[: layer.wave]
    next_wave = _next_wave_at(layer, now, row.due_at, more=len(remaining) > len(chosen))
    claimed = session.execute(
        update(IncidentLayer)
        .where(IncidentLayer.id == row.id, IncidentLayer.waves_sent == row.waves_sent,
               IncidentLayer.next_wave_at == row.next_wave_at)
        .values(waves_sent=row.waves_sent + 1, next_wave_at=next_wave, recipients=row.recipients + len(chosen))
    )
    if getattr(claimed, "rowcount", 0) != 1:
        return after
    if chosen:
        incidents.append(session, svc.cipher, incident.id, "wave_alerted", now, actor="system",
                         detail={"layer": layer.number, "wave": row.waves_sent + 1, "recipients": len(chosen)})
        after.send_ids.extend(record_alerts(svc, session, incident, tree, layer, chosen, now,
                                            alerted_at=row.alerted_at or now))
    after.timers.append((incident.id, min(row.due_at, next_wave) if next_wave else row.due_at))
    return after


def record_alerts(svc: Services, session: Session, incident: Incident, tree: Tree, layer: Layer,
                  members: list[Recipient], now: datetime, *, alerted_at: datetime) -> list[int]:
    """Record each member's alert (text, call or both); the ids still pending, to send. Every chunk
    of a layer is valid as long as its first: the alert's validity runs from `alerted_at`."""
    text = svc.cipher.decrypt(incident.text_token)
    bodies: dict[str, str] = {}
    scripts: dict[str, str] = {}
    valid_until = alerted_at + timedelta(seconds=svc.settings.alert_validity_seconds)
    channels = channels_of(session, [member.id for member in members])
    texts = []
    for member in members:
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
    ids = outbox.record(session, svc.cipher, texts, now)
    duty.note_alerted(session, [member.id for member in members], now)  # the rotation and the load
    return ids


@dataclass
class PlanStep:
    send_ids: list[int] = field(default_factory=list)  # this chunk's texts, to send once committed
    done: bool = False  # nothing left to plan (finished, stopped, or another planner's)
    after: AfterCommit = field(default_factory=AfterCommit)  # what the finishing evaluate left


def plan_chunk(svc: Services, session: Session, incident_id: int, number: int, now: datetime) -> PlanStep:
    """Record the next chunk of a layer still being planned and move its cursor on, guarded by the
    cursor's old value: two planners at once (a slow one and the sweep's), or a re-run after a
    crash, write each member once and skip nobody. A closed incident stops the planning."""
    row = session.scalar(select(IncidentLayer).where(IncidentLayer.incident_id == incident_id,
                                                     IncidentLayer.number == number))
    if row is None or row.plan_pass is None:
        return PlanStep(done=True)
    incident = session.get(Incident, incident_id)
    assert incident is not None
    tree = incidents.plan_of(svc.cipher, incident)
    layer = tree.layer(number)
    guard = (IncidentLayer.id == row.id, IncidentLayer.plan_pass == row.plan_pass,
             IncidentLayer.planned_through == row.planned_through)
    planned = Chunk([], row.plan_pass, row.planned_through)
    if layer is not None and incident.is_open:
        planned = next_recipients(svc, session, incident, tree.name, layer, plan_pass=row.plan_pass,
                                  after=row.planned_through, limit=svc.settings.alert_batch_size, unpaused_at=now)
    found = planned.members
    if len(found) < svc.settings.alert_batch_size:
        # The last chunk (or none): written with the end of the planning, in one transaction.
        finished = session.execute(update(IncidentLayer).where(*guard).values(
            plan_pass=None, planning_at=None, recipients=IncidentLayer.recipients + len(found)))
        if getattr(finished, "rowcount", 0) != 1:
            return PlanStep(done=True)
        sent = record_alerts(svc, session, incident, tree, layer, found, now,
                             alerted_at=row.alerted_at or now) if found and layer is not None else []
        # What waited for the planning (an answer that reached the quorum meanwhile) is done now.
        return PlanStep(send_ids=sent, done=True, after=evaluate(svc, session, incident_id, now))
    moved = session.execute(update(IncidentLayer).where(*guard).values(
        plan_pass=planned.plan_pass, planned_through=planned.after, recipients=IncidentLayer.recipients + len(found),
        planning_at=now))
    if getattr(moved, "rowcount", 0) != 1:
        return PlanStep(done=True)  # nothing written: the planner that moved the cursor wrote these
    assert layer is not None
    return PlanStep(send_ids=record_alerts(svc, session, incident, tree, layer, found, now,
                                           alerted_at=row.alerted_at or now))


def stalled_plans(session: Session, now: datetime, lease: timedelta) -> list[tuple[int, int]]:
    """Layers whose planner stopped writing (its worker died): the sweep resumes them."""
    return [(row.incident_id, row.number) for row in session.execute(
        select(IncidentLayer.incident_id, IncidentLayer.number).where(
            IncidentLayer.plan_pass.is_not(None), IncidentLayer.planning_at <= now - lease))]


def call_dedupe_key(incident_id: int, member_id: int) -> str:
    """A member gets at most one alert call per incident, planned or a text's fallback."""
    return f"alert:{incident_id}:{member_id}:voice"


def layer_states(incident: Incident) -> dict[int, LayerState]:
    return {lay.number: LayerState(LayerStatus(lay.status), lay.due_at, lay.next_wave_at) for lay in incident.layers}


def evaluate(svc: Services, session: Session, incident_id: int, now: datetime) -> AfterCommit:
    """Look at an incident and do what the policy says is due now."""
    after = AfterCommit()
    # populate_existing reloads the layers too (their selectin load runs again): what another
    # worker or this session's own UPDATEs changed is what the policy sees.
    incident = session.get(Incident, incident_id, populate_existing=True)
    if incident is None:
        return after
    if any(lay.plan_pass is not None for lay in incident.layers):
        return after  # a layer is still being planned: its planner evaluates once it is done
    tree = incidents.plan_of(svc.cipher, incident)
    decision: Decision = decide(
        tree, layer_states(incident), incidents.yes_by_layer(session, incident.id),
        is_open=incident.is_open, confirmed=incident.verified, covered=incident.covered_at is not None, now=now,
    )
    if decision.step == Step.ALERT_NEXT and decision.layer is not None:
        layer = tree.layer(decision.layer)
        assert layer is not None
        after.extend(alert_layer(svc, session, incident, tree, layer, now, unverified=decision.unverified))
    elif decision.step == Step.NEXT_WAVE and decision.layer is not None:
        layer = tree.layer(decision.layer)
        assert layer is not None
        after.extend(alert_next_wave(svc, session, incident, tree, layer, now))
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
    members = (m for m in incidents.alerted_members(session, incident.id) if m.id not in answered)
    after.send_ids.extend(notify(svc, session, incident, members, "incident.covered", Purpose.COVERED, now))
    return after


def notify(svc: Services, session: Session, incident: Incident, members: Iterable[Recipient], key: str,
           purpose: Purpose, now: datetime, *, dedupe: str | None = None) -> list[int]:
    """Record one text per member, each in their language (rendered once per language), a chunk
    of PLAN_CHUNK at a time: `members` may be a whole layer's, read as it goes."""
    bodies: dict[str, str] = {}
    ids: list[int] = []
    texts: list[outbox.Text] = []
    for m in members:
        if m.language not in bodies:
            bodies[m.language] = incidents.marked(incident, m.language, render(key, m.language, code=incident.code))
        texts.append(outbox.Text(to=outbox.SealedNumber(m.phone_index, m.phone_token), body=bodies[m.language],
                                 purpose=purpose, dedupe_key=f"{dedupe or purpose.value}:{incident.id}:{m.id}",
                                 member_id=m.id, incident_id=incident.id))
        if len(texts) == PLAN_CHUNK:
            ids.extend(outbox.record(session, svc.cipher, texts, now))
            texts = []
    if texts:
        ids.extend(outbox.record(session, svc.cipher, texts, now))
    return ids


def due_incidents(session: Session, now: datetime, limit: int = 500, *,
                   grace: timedelta = timedelta(seconds=30)) -> list[int]:
    """Open incidents with a layer whose wait is over (or skipped) and a next layer not yet alerted,
    and incidents nobody started `grace` after they opened (their start job was lost).

    The sweep evaluates these, so an escalation survives a lost Redis timer. An incident with a
    layer still being planned is its planner's (or, if that planner died, `stalled_plans`'s).
    """
    waiting = select(IncidentLayer.incident_id).where(IncidentLayer.status == LayerStatus.WAITING.value)
    planning = select(IncidentLayer.incident_id).where(IncidentLayer.plan_pass.is_not(None))
    rows = session.scalars(
        select(IncidentLayer.incident_id).join(Incident)
        .where(Incident.open_code.is_not(None), Incident.covered_at.is_(None),
               IncidentLayer.incident_id.in_(waiting), IncidentLayer.incident_id.not_in(planning),
               ((IncidentLayer.status == LayerStatus.ALERTED.value) & (IncidentLayer.due_at <= now))
               | (IncidentLayer.status == LayerStatus.SKIPPED.value))
        .distinct().limit(limit)
    ).all()
    # A layer's next wave (the last layer's too: no later layer is waiting for it), within its wait.
    waves = session.scalars(
        select(IncidentLayer.incident_id).join(Incident)
        .where(Incident.open_code.is_not(None), Incident.covered_at.is_(None),
               IncidentLayer.status == LayerStatus.ALERTED.value, IncidentLayer.next_wave_at <= now,
               IncidentLayer.due_at > now)
        .distinct().limit(limit)
    ).all()
    unstarted = session.scalars(
        select(Incident.id).where(Incident.open_code.is_not(None), Incident.opened_at <= now - grace,
                                  ~Incident.id.in_(select(IncidentLayer.incident_id).where(
                                      IncidentLayer.status != LayerStatus.WAITING.value)))
        .limit(limit)
    ).all()
    return sorted(set(rows) | set(waves) | set(unstarted))


def pending_sends(session: Session, now: datetime, lease_seconds: float, limit: int = 5000) -> list[int]:
    """Texts recorded but not sent: never enqueued (Redis was down) or claimed by a worker that died.
    A broadcast's texts wait their turn for long and have their own chain (broadcasts/sending.py).
    Nor are a layer's alerts stuck while workers still claim its chunks (`sending_at`): a long
    fan-out waits in the queue, it is not lost."""
    stale = now - timedelta(seconds=lease_seconds)
    last_queued = func.coalesce(OutboundMessage.requeued_at, OutboundMessage.created_at)
    live = select(IncidentLayer.id).where(IncidentLayer.incident_id == OutboundMessage.incident_id,
                                          IncidentLayer.number == OutboundMessage.layer,
                                          IncidentLayer.sending_at > stale)
    return list(session.scalars(
        select(OutboundMessage.id).where(
            ((OutboundMessage.status == DeliveryStatus.PENDING.value) & (last_queued <= stale) & ~live.exists())
            | ((OutboundMessage.status == DeliveryStatus.SENDING.value) & (OutboundMessage.claimed_at <= stale)),
            OutboundMessage.broadcast_id.is_(None),
        ).order_by(OutboundMessage.id).limit(limit)
    ).all())
