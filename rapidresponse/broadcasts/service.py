"""Broadcasts: who gets one, what each language receives, recording it once, planning its texts,
cancelling it, its progress, its replies and templates.

Plain functions over a Session (no Flask, no RQ): the console's routes and the jobs call them.
The send itself is the outbox's: one intent per member (dedupe key `broadcast:{id}:{member}`)
at BULK priority, so a raid alert started meanwhile goes first.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, exists, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from rapidresponse import audit
from rapidresponse.broadcasts.models import (
    Broadcast,
    BroadcastReply,
    BroadcastStatus,
    BroadcastTemplate,
    BroadcastText,
)
from rapidresponse.i18n import LANGUAGES, render
from rapidresponse.i18n.catalog import DEFAULT_LANGUAGE
from rapidresponse.members.models import Member, MemberStatus, MemberTag
from rapidresponse.members.registry import RECIPIENT_COLUMNS, layer_tag, recipients
from rapidresponse.messaging import outbox
from rapidresponse.messaging.models import DeliveryStatus, OutboundMessage, Purpose
from rapidresponse.messaging.segments import encoding, segments
from rapidresponse.privacy.crypto import FieldCipher
from rapidresponse.privacy.masking import mask_phone, mask_phone_numbers
from rapidresponse.trees.model import Trees

MAX_TEXT = 1600  # Twilio's limit for one message (10 segments of GSM-7, 23 of UCS-2)
TEMPLATE_NAME_MAX = 80
PLAN_CHUNK = 500
# Two identical broadcasts (texts, audience, drill) within this long are one, unless asked twice.
DUPLICATE_WINDOW = timedelta(minutes=10)
WAITING = (DeliveryStatus.PENDING.value, DeliveryStatus.SENDING.value)


class BroadcastError(ValueError):
    """A broadcast cannot be made as asked; the message says why, to the coordinator."""


# --- the audience -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Audience:
    """Who receives it. Empty means everyone active. Within one kind, any of them (tree ice OR
    layer eviction:1); between kinds, all of them (in those places AND in those zones AND ...).

    `places` holds whole trees ("ice") and single layers ("ice:1")."""

    places: tuple[str, ...] = ()
    zones: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()

    @property
    def everyone(self) -> bool:
        return not (self.places or self.zones or self.languages)

    def to_json(self) -> str:
        return json.dumps({"places": list(self.places), "zones": list(self.zones),
                           "languages": list(self.languages)}, sort_keys=True)

    @classmethod
    def from_json(cls, raw: str) -> Audience:
        data = json.loads(raw)
        return cls(tuple(data.get("places", ())), tuple(data.get("zones", ())), tuple(data.get("languages", ())))


def place_choices(trees: Trees) -> list[tuple[str, str]]:
    """Every place a broadcast can go to: (value, label), each tree then its layers."""
    choices: list[tuple[str, str]] = []
    for name in sorted(trees.trees):
        tree = trees.trees[name]
        choices.append((name, f"{name}: whole tree"))
        choices.extend((f"{name}:{layer.number}", f"{name} layer {layer.number}: {layer.name}")
                       for layer in tree.layers)
    return choices


def zone_choices(session: Session) -> list[str]:
    """Zones active members are in (zones are stored in clear: they are the members' own words)."""
    return sorted(z for z in session.scalars(select(Member.zone).where(
        Member.status == MemberStatus.ACTIVE.value, Member.zone.is_not(None)).distinct()) if z)


def make_audience(trees: Trees, places: Iterable[str], zones: Iterable[str], languages: Iterable[str],
                  known_zones: Iterable[str] | None = None) -> Audience:
    """An Audience from a form's values, refusing anything unknown (BroadcastError says which)."""
    valid_places = {value for value, _ in place_choices(trees)}
    picked = tuple(sorted({p.strip() for p in places if p.strip()}))
    for place in picked:
        if place not in valid_places:
            raise BroadcastError(f"There is no tree or layer called {place!r}.")
    picked_zones = tuple(sorted({" ".join(z.strip().lower().split()) for z in zones if z.strip()}))
    if known_zones is not None:
        known = set(known_zones)
        for zone in picked_zones:
            if zone not in known:
                raise BroadcastError(f"No active member is in zone {zone!r}.")
    picked_languages = tuple(sorted({lang.strip() for lang in languages if lang.strip()}))
    for language in picked_languages:
        if language not in LANGUAGES:
            raise BroadcastError(f"Unknown language {language!r}; languages are {', '.join(LANGUAGES)}.")
    return Audience(picked, picked_zones, picked_languages)


def _place_tags(cipher: FieldCipher, trees: Trees, audience: Audience) -> list[str]:
    tags: set[str] = set()
    for place in audience.places:
        name, _, layer = place.partition(":")
        tree = trees.trees.get(name)
        if tree is None:
            continue  # a tree removed from the trees file since: it holds nobody now
        numbers = [int(layer)] if layer else [lay.number for lay in tree.layers]
        tags.update(layer_tag(cipher, name, n) for n in numbers)
    return sorted(tags)


def _reachable(cipher: FieldCipher, trees: Trees, audience: Audience) -> list[Any]:
    """Where-clauses for the audience's members: active, deliverable, with a number to text.
    Opted-out, pending and undeliverable members never are."""
    where: list[Any] = [Member.status == MemberStatus.ACTIVE.value, Member.undeliverable_code.is_(None),
                        Member.phone_token.is_not(None)]
    if audience.zones:
        where.append(Member.zone.in_(audience.zones))
    if audience.languages:
        where.append(Member.language.in_(audience.languages))
    if audience.places:
        # Keyed tags (members/registry.py): one indexed look-up; a tree nobody is in matches nobody.
        where.append(exists().where(MemberTag.member_id == Member.id,
                                    MemberTag.tag.in_(_place_tags(cipher, trees, audience) or ["-"])))
    return where


def text_language(language: str) -> str:
    """The catalog a member's language is served from (an unknown one gets English)."""
    return language if language in LANGUAGES else DEFAULT_LANGUAGE


@dataclass(frozen=True)
class AudienceCount:
    total: int
    by_language: dict[str, int]

    def summary(self) -> str:
        """'412 members: 301 en, 111 es'."""
        head = f"{self.total} member{'' if self.total == 1 else 's'}"
        if not self.total:
            return head
        return head + ": " + ", ".join(f"{n} {lang}" for lang, n in self.by_language.items() if n)


def count(session: Session, cipher: FieldCipher, trees: Trees, audience: Audience) -> AudienceCount:
    rows = session.execute(select(Member.language, func.count()).where(
        *_reachable(cipher, trees, audience)).group_by(Member.language)).all()
    by_language = dict.fromkeys(LANGUAGES, 0)
    for language, n in rows:
        by_language[text_language(language)] += n
    return AudienceCount(sum(by_language.values()), by_language)


# --- the texts ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Outgoing:
    """What one language receives."""

    language: str
    body: str
    fallback: bool  # nothing was written for it: the English text (marked for it if a drill)
    segments: int
    encoding: str


@dataclass(frozen=True)
class Draft:
    texts: Mapping[str, str]  # language -> what the coordinator wrote (may be empty but for English)
    audience: Audience
    drill: bool = False


def clean_texts(raw: Mapping[str, str | None]) -> dict[str, str]:
    """The texts as written, trimmed, line endings made plain; refuses an empty English text and
    anything too long for one message."""
    texts: dict[str, str] = {}
    for language in LANGUAGES:
        text = (raw.get(language) or "").replace("\r\n", "\n").replace("\r", "\n").strip()
        if len(text) > MAX_TEXT:
            raise BroadcastError(f"The {language} text is {len(text)} characters; the most one text can carry "
                                 f"is {MAX_TEXT}.")
        texts[language] = text
    if not texts[DEFAULT_LANGUAGE]:
        raise BroadcastError("Write the English text: it is what every language without its own text receives.")
    return texts


def outgoing(draft: Draft) -> list[Outgoing]:
    """Each language's text as it will be sent: its own, else English; DRILL / SIMULACRO in its
    language when it is a drill."""
    result = []
    for language in LANGUAGES:
        own = (draft.texts.get(language) or "").strip()
        body = own or draft.texts[DEFAULT_LANGUAGE].strip()
        if draft.drill:
            body = render("broadcast.drill", language, text=body)
        result.append(Outgoing(language, body, not own, segments(body), encoding(body)))
    return result


@dataclass(frozen=True)
class Preview:
    count: AudienceCount
    texts: list[Outgoing]
    total_segments: int
    seconds: float | None  # at the configured rate; None when unlimited
    rate: float

    @property
    def estimate(self) -> str:
        """'about 7 min at 1 segment/s'."""
        return estimate(self.seconds, self.rate)


def estimate(seconds: float | None, rate: float) -> str:
    if seconds is None or rate <= 0:
        return "as fast as the provider takes them (no rate limit set)"
    per = f"{rate:g} segment{'' if rate == 1 else 's'}/s"
    if seconds < 60:
        return f"about {max(1, math.ceil(seconds))} s at {per}"
    if seconds < 3600:
        return f"about {math.ceil(seconds / 60)} min at {per}"
    return f"about {seconds / 3600:.1f} h at {per}"


def preview(session: Session, cipher: FieldCipher, trees: Trees, draft: Draft, rate: float) -> Preview:
    counted = count(session, cipher, trees, draft.audience)
    texts = outgoing(draft)
    total = sum(counted.by_language.get(t.language, 0) * t.segments for t in texts)
    return Preview(counted, texts, total, total / rate if rate > 0 else None, rate)


# --- recording it once --------------------------------------------------------------------------

@dataclass(frozen=True)
class Created:
    broadcast_id: int
    new: bool  # False: this form was already sent (double click, reload, resubmit): nothing done
    duplicate_of: int | None = None  # an identical broadcast went out moments ago: refused


def content_key(cipher: FieldCipher, draft: Draft, now: datetime) -> tuple[str, str]:
    """(this window's key, the previous window's) for the duplicate guard."""
    fingerprint = cipher.tag("broadcast:" + json.dumps(
        {"texts": {k: v for k, v in sorted(draft.texts.items()) if v}, "audience": draft.audience.to_json(),
         "drill": draft.drill}, sort_keys=True))
    bucket = int(now.timestamp() // DUPLICATE_WINDOW.total_seconds())
    return f"{fingerprint}:{bucket}", f"{fingerprint}:{bucket - 1}"


def _insert_or_nothing(session: Session, values: dict[str, Any]) -> int | None:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING id: the new broadcast's id, or None when its key
    (or content key) is taken. Two requests at once: the second waits for the first's commit."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(Broadcast).values(**values).on_conflict_do_nothing().returning(Broadcast.id)
    found: int | None = session.scalar(stmt)
    return found


def by_key(session: Session, key: str) -> int | None:
    """The broadcast this form (its idempotency key) already sent, if any."""
    return session.scalar(select(Broadcast.id).where(Broadcast.idempotency_key == key))


def by_id(session: Session, broadcast_id: int) -> Broadcast | None:
    return session.get(Broadcast, broadcast_id)


def create(session: Session, cipher: FieldCipher, draft: Draft, *, key: str, coordinator_id: int | None,
           now: datetime, allow_duplicate: bool = False) -> Created:
    """Record the broadcast and its texts, once per form (`key`) and once per 10 minutes for the
    same content unless `allow_duplicate`. The caller queues `plan` after the commit."""
    existing = by_key(session, key)
    if existing is not None:
        return Created(existing, new=False)
    current, previous = content_key(cipher, draft, now)
    if not allow_duplicate:
        recent = session.execute(select(Broadcast.id, Broadcast.idempotency_key).where(
            Broadcast.content_key.in_([current, previous]), Broadcast.created_at >= now - DUPLICATE_WINDOW)).first()
        if recent is not None:
            # Committed since the look-up above by this very form (a second press): not a duplicate.
            return Created(recent.id, new=False, duplicate_of=None if recent.idempotency_key == key else recent.id)
    broadcast_id = _insert_or_nothing(session, {
        "idempotency_key": key, "content_key": None if allow_duplicate else current,
        "status": BroadcastStatus.PLANNING.value, "drill": draft.drill,
        "audience_token": cipher.encrypt(draft.audience.to_json()), "created_by": coordinator_id,
        "created_at": now, "heartbeat_at": now, "planned_through": 0, "recipients": 0, "segments_total": 0,
        "chain": 0,
    })
    if broadcast_id is None:  # lost a race: the other request's broadcast is the one
        existing = by_key(session, key)
        if existing is not None:
            return Created(existing, new=False)
        other = session.scalar(select(Broadcast.id).where(Broadcast.content_key == current))
        if other is None:
            raise BroadcastError("Another coordinator's broadcast was being recorded at the same moment; "
                                 "press Send again.")
        return Created(other, new=False, duplicate_of=other)
    for text in outgoing(draft):
        session.add(BroadcastText(broadcast_id=broadcast_id, language=text.language,
                                  body_token=cipher.encrypt(text.body), segments=text.segments,
                                  fallback=text.fallback))
    audit.record(session, coordinator_id, audit.AuditAction.BROADCAST, now, target=audit.Target.BROADCAST,
                 target_id=broadcast_id)
    return Created(broadcast_id, new=True)


def audience_of(cipher: FieldCipher, broadcast: Broadcast) -> Audience:
    return Audience.from_json(cipher.decrypt(broadcast.audience_token))


# --- planning (a job, chunk by chunk) -----------------------------------------------------------

@dataclass
class PlanStep:
    planned: int = 0  # members written in this step
    finished: bool = False  # nobody left to plan: the broadcast is now SENDING
    stopped: bool = False  # cancelled, or another planner had done this chunk


def plan_chunk(session: Session, cipher: FieldCipher, trees: Trees, broadcast_id: int, now: datetime,
               chunk: int = PLAN_CHUNK) -> PlanStep:
    """Write the send intents of the next `chunk` members (by id) and move `planned_through` on,
    guarded by its old value: two planners at once, or a re-run, write each member once."""
    broadcast = session.get(Broadcast, broadcast_id)
    if broadcast is None or broadcast.status != BroadcastStatus.PLANNING.value:
        return PlanStep(stopped=True)
    audience = audience_of(cipher, broadcast)
    bodies = {t.language: t for t in broadcast.texts}
    found = recipients(session, select(*RECIPIENT_COLUMNS).where(
        *_reachable(cipher, trees, audience), Member.id > broadcast.planned_through).order_by(Member.id).limit(chunk))
    last_id = broadcast.planned_through
    if not found:
        moved = session.execute(update(Broadcast).where(
            Broadcast.id == broadcast_id, Broadcast.status == BroadcastStatus.PLANNING.value,
            Broadcast.planned_through == last_id).values(status=BroadcastStatus.SENDING.value, heartbeat_at=now))
        return PlanStep(finished=getattr(moved, "rowcount", 0) == 1, stopped=getattr(moved, "rowcount", 0) != 1)
    plain = {language: cipher.decrypt(text.body_token) for language, text in bodies.items()}
    texts, segments_total = [], 0
    for member in found:
        language = text_language(member.language)
        texts.append(outbox.Text(
            to=outbox.SealedNumber(member.phone_index, member.phone_token), body=plain[language],
            purpose=Purpose.BROADCAST, dedupe_key=f"broadcast:{broadcast_id}:{member.id}", member_id=member.id,
            broadcast_id=broadcast_id))
        segments_total += bodies[language].segments
    # Same member id order as the query, so the highest id is the last one written.
    moved = session.execute(update(Broadcast).where(
        Broadcast.id == broadcast_id, Broadcast.status == BroadcastStatus.PLANNING.value,
        Broadcast.planned_through == last_id,
    ).values(planned_through=found[-1].id, recipients=Broadcast.recipients + len(found),
             segments_total=Broadcast.segments_total + segments_total, heartbeat_at=now))
    if getattr(moved, "rowcount", 0) != 1:
        return PlanStep(stopped=True)  # nothing written: whoever moved it on wrote these members
    outbox.record(session, cipher, texts, now)
    return PlanStep(planned=len(found))


# --- sending (the chain's steps; the job in jobs/tasks.py sends what these pick) ----------------

def chain_of(broadcast_id: int) -> Select[int]:
    return select(Broadcast.chain).where(Broadcast.id == broadcast_id)


@dataclass(frozen=True)
class Step:
    ids: list[int]
    go_on: bool  # the chain carries on (queue the next step) even if `ids` is empty
    at: datetime | None = None  # not before then (texts waiting out a retry backoff)


def next_step(session: Session, broadcast_id: int, chain: int, now: datetime, *, lease: timedelta,
              limit: int) -> Step:
    """The next texts this chain sends (pending, or claimed by a worker that died), bumping the
    heartbeat; a stale chain (the sweep started another) or a finished broadcast gets nothing."""
    beat = session.execute(update(Broadcast).where(
        Broadcast.id == broadcast_id, Broadcast.chain == chain,
        Broadcast.status.in_([BroadcastStatus.PLANNING.value, BroadcastStatus.SENDING.value]),
    ).values(heartbeat_at=now))
    if getattr(beat, "rowcount", 0) != 1:
        return Step([], go_on=False)
    ready = or_(OutboundMessage.requeued_at.is_(None), OutboundMessage.requeued_at <= now)
    ids = list(session.scalars(select(OutboundMessage.id).where(
        OutboundMessage.broadcast_id == broadcast_id,
        or_(and_(OutboundMessage.status == DeliveryStatus.PENDING.value, ready),
            and_(OutboundMessage.status == DeliveryStatus.SENDING.value,
                 OutboundMessage.claimed_at <= now - lease)),
    ).order_by(OutboundMessage.id).limit(limit)).all())
    if ids:
        return Step(ids, go_on=True)
    status = session.scalar(select(Broadcast.status).where(Broadcast.id == broadcast_id))
    if status == BroadcastStatus.PLANNING.value:
        return Step([], go_on=True, at=now + timedelta(seconds=0.5))  # the planner is still writing
    waiting = session.execute(select(func.min(OutboundMessage.requeued_at), func.min(OutboundMessage.claimed_at),
                                     func.count()).where(
        OutboundMessage.broadcast_id == broadcast_id, OutboundMessage.status.in_(WAITING))).one()
    retry_at, oldest_claim, left = waiting
    if not left:
        session.execute(update(Broadcast).where(
            Broadcast.id == broadcast_id, Broadcast.status == BroadcastStatus.SENDING.value,
        ).values(status=BroadcastStatus.DONE.value, finished_at=now))
        return Step([], go_on=False)
    # Texts backing off after a refusal, or claimed by a live worker: look again when due.
    candidates = [t for t in (retry_at, oldest_claim + lease if oldest_claim else None) if t is not None]
    return Step([], go_on=True, at=max(now + timedelta(seconds=1), min(candidates) if candidates else now))


def stalled(session: Session, now: datetime, lease: timedelta) -> list[tuple[int, int, str]]:
    """Live broadcasts whose chain has not stepped for a lease (its job lost, its worker dead):
    a new chain is taken for each (the old one stops at its next step). Returns (id, chain, status)."""
    found = list(session.execute(select(Broadcast.id, Broadcast.chain, Broadcast.status).where(
        Broadcast.status.in_([BroadcastStatus.PLANNING.value, BroadcastStatus.SENDING.value]),
        or_(Broadcast.heartbeat_at.is_(None), Broadcast.heartbeat_at <= now - lease))).all())
    taken = []
    for broadcast_id, chain, status in found:
        moved = session.execute(update(Broadcast).where(Broadcast.id == broadcast_id, Broadcast.chain == chain)
                                .values(chain=chain + 1, heartbeat_at=now))
        if getattr(moved, "rowcount", 0) == 1:
            taken.append((broadcast_id, chain + 1, status))
    return taken


# --- cancelling ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Cancelled:
    changed: bool
    never_sent: int  # texts stopped before they reached the provider


def cancel(session: Session, broadcast_id: int, coordinator_id: int | None, now: datetime) -> Cancelled:
    """Stop a broadcast: every text not yet handed to the provider is cancelled (PENDING, and
    SENDING ones still waiting their turn: the sender checks its claim right before each bulk
    send, so one cancelled here is never sent)."""
    moved = session.execute(update(Broadcast).where(
        Broadcast.id == broadcast_id,
        Broadcast.status.in_([BroadcastStatus.PLANNING.value, BroadcastStatus.SENDING.value]),
    ).values(status=BroadcastStatus.CANCELLED.value, finished_at=now, cancelled_by=coordinator_id))
    if getattr(moved, "rowcount", 0) != 1:
        return Cancelled(False, 0)
    stopped = session.execute(update(OutboundMessage).where(
        OutboundMessage.broadcast_id == broadcast_id, OutboundMessage.status.in_(WAITING),
    ).values(status=DeliveryStatus.CANCELLED.value, status_at=now))
    never_sent = int(getattr(stopped, "rowcount", 0) or 0)
    audit.record(session, coordinator_id, audit.AuditAction.BROADCAST_CANCEL, now, target=audit.Target.BROADCAST,
                 target_id=broadcast_id, count=never_sent)
    return Cancelled(True, never_sent)


# --- progress -----------------------------------------------------------------------------------

HANDED_OVER = (DeliveryStatus.QUEUED.value, DeliveryStatus.SENT.value, DeliveryStatus.DELIVERED.value,
               DeliveryStatus.UNDELIVERED.value)


@dataclass
class Progress:
    id: int
    status: str
    recipients: int = 0
    waiting: int = 0  # not yet handed to the provider
    sent: int = 0  # handed to the provider (whatever happened next)
    delivered: int = 0
    failed: int = 0  # refused, undelivered or expired
    cancelled: int = 0  # never sent: cancelled, or the member opted out first
    opted_out_since: int = 0  # recipients who have opted out since it was sent
    segments_total: int = 0

    @property
    def done(self) -> bool:
        return not BroadcastStatus(self.status).is_live

    @property
    def percent(self) -> int:
        """How much of it is over: sent, failed or cancelled, out of its recipients."""
        if not self.recipients:
            return 100 if self.done else 0
        return min(100, math.floor(100 * (self.recipients - self.waiting) / self.recipients))

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "status": self.status, "done": self.done, "percent": self.percent,
                "recipients": self.recipients, "queued": self.waiting, "sent": self.sent,
                "delivered": self.delivered, "failed": self.failed, "cancelled": self.cancelled,
                "opted_out_since": self.opted_out_since}


def progress(session: Session, broadcast_ids: Sequence[int]) -> dict[int, Progress]:
    """Counts for each broadcast, in two grouped queries whatever its size."""
    if not broadcast_ids:
        return {}
    found = {b.id: Progress(b.id, b.status, recipients=b.recipients, segments_total=b.segments_total)
             for b in session.execute(select(Broadcast.id, Broadcast.status, Broadcast.recipients,
                                             Broadcast.segments_total).where(Broadcast.id.in_(broadcast_ids)))}
    rows = session.execute(select(OutboundMessage.broadcast_id, OutboundMessage.status,
                                  OutboundMessage.sent_at.is_not(None), func.count()).where(
        OutboundMessage.broadcast_id.in_(list(found))).group_by(
        OutboundMessage.broadcast_id, OutboundMessage.status, OutboundMessage.sent_at.is_not(None))).all()
    for broadcast_id, status, was_sent, n in rows:
        p = found[broadcast_id]
        if status in WAITING:
            p.waiting += n
        elif status in HANDED_OVER:
            p.sent += n
            if status == DeliveryStatus.DELIVERED.value:
                p.delivered += n
            elif status == DeliveryStatus.UNDELIVERED.value:
                p.failed += n
        elif status in (DeliveryStatus.FAILED.value, DeliveryStatus.EXPIRED.value):
            p.failed += n
            if was_sent:
                p.sent += n
        elif status == DeliveryStatus.CANCELLED.value:
            p.cancelled += n
    started = select(Broadcast.created_at).where(Broadcast.id == OutboundMessage.broadcast_id).scalar_subquery()
    for broadcast_id, n in session.execute(select(OutboundMessage.broadcast_id, func.count()).join(
            Member, Member.id == OutboundMessage.member_id).where(
            OutboundMessage.broadcast_id.in_(list(found)), Member.status == MemberStatus.OPTED_OUT.value,
            Member.opted_out_at >= started).group_by(OutboundMessage.broadcast_id)).all():
        found[broadcast_id].opted_out_since = n
    return found


@dataclass(frozen=True)
class Summary:
    id: int
    created_at: datetime
    status: str
    drill: bool
    excerpt: str
    progress: Progress


def recent(session: Session, cipher: FieldCipher, limit: int = 50) -> list[Summary]:
    broadcasts = list(session.scalars(select(Broadcast).order_by(Broadcast.id.desc()).limit(limit)).all())
    counts = progress(session, [b.id for b in broadcasts])
    result = []
    for b in broadcasts:
        english = next((t for t in b.texts if t.language == DEFAULT_LANGUAGE), None)
        body = cipher.decrypt(english.body_token) if english else ""
        result.append(Summary(b.id, b.created_at, b.status, b.drill,
                              body if len(body) <= 80 else body[:79] + "…", counts[b.id]))
    return result


@dataclass(frozen=True)
class ReplyLine:
    at: datetime
    who: str  # the member's masked number (…4521), or "a former member"
    body: str


@dataclass
class View:
    broadcast: Broadcast
    audience: Audience
    texts: list[Outgoing]
    progress: Progress
    replies: list[ReplyLine] = field(default_factory=list)


def view(session: Session, cipher: FieldCipher, broadcast_id: int) -> View | None:
    broadcast = session.get(Broadcast, broadcast_id)
    if broadcast is None:
        return None
    texts = []
    for t in broadcast.texts:
        body = cipher.decrypt(t.body_token)
        texts.append(Outgoing(t.language, body, t.fallback, t.segments, encoding(body)))
    lines = []
    for reply in session.scalars(select(BroadcastReply).where(BroadcastReply.broadcast_id == broadcast_id)
                                 .order_by(BroadcastReply.at, BroadcastReply.id)):
        member = session.get(Member, int(cipher.decrypt(reply.member_token)))
        who = mask_phone(cipher.decrypt(member.phone_token)) if member and member.phone_token else "a former member"
        lines.append(ReplyLine(reply.at, who, mask_phone_numbers(cipher.decrypt(reply.body_token))))
    return View(broadcast, audience_of(cipher, broadcast), texts, progress(session, [broadcast_id])[broadcast_id],
                lines)


# --- replies ------------------------------------------------------------------------------------

def replied_to(session: Session, member_id: int, now: datetime, window: timedelta) -> int | None:
    """The broadcast a member's text answers: the last text we sent them (our replies to their
    own texts aside) is a broadcast, sent within `window`. Otherwise None."""
    latest = session.execute(select(OutboundMessage.purpose, OutboundMessage.broadcast_id, OutboundMessage.created_at)
                             .where(OutboundMessage.member_id == member_id,
                                    OutboundMessage.purpose != Purpose.REPLY.value,
                                    OutboundMessage.status.not_in([DeliveryStatus.CANCELLED.value,
                                                                   DeliveryStatus.PENDING.value]))
                             .order_by(OutboundMessage.created_at.desc(), OutboundMessage.id.desc()).limit(1)).first()
    if latest is None or latest.purpose != Purpose.BROADCAST.value or latest.broadcast_id is None:
        return None
    if latest.created_at < now - window:
        return None
    return int(latest.broadcast_id)


def record_reply(session: Session, cipher: FieldCipher, broadcast_id: int, member_id: int, inbound_id: int,
                 body: str, now: datetime) -> None:
    session.add(BroadcastReply(broadcast_id=broadcast_id, inbound_message_id=inbound_id,
                               member_token=cipher.encrypt(str(member_id)), body_token=cipher.encrypt(body), at=now))


# --- templates ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Template:
    id: int
    name: str
    texts: dict[str, str]
    drill: bool


def save_template(session: Session, cipher: FieldCipher, name: str, texts: Mapping[str, str], drill: bool,
                  coordinator_id: int | None, now: datetime) -> int:
    name = " ".join(name.split())
    if not name:
        raise BroadcastError("Give the template a name, e.g. \"meeting tonight\".")
    if len(name) > TEMPLATE_NAME_MAX:
        raise BroadcastError(f"A template's name is at most {TEMPLATE_NAME_MAX} characters.")
    template = BroadcastTemplate(name_token=cipher.encrypt(name), texts_token=cipher.encrypt(json.dumps(dict(texts))),
                                 drill=drill, created_by=coordinator_id, created_at=now)
    session.add(template)
    session.flush()
    return template.id


def templates(session: Session, cipher: FieldCipher) -> list[Template]:
    found = [Template(t.id, cipher.decrypt(t.name_token), json.loads(cipher.decrypt(t.texts_token)), t.drill)
             for t in session.scalars(select(BroadcastTemplate))]
    return sorted(found, key=lambda t: t.name.lower())


def template(session: Session, cipher: FieldCipher, template_id: int) -> Template | None:
    found = session.get(BroadcastTemplate, template_id)
    if found is None:
        return None
    return Template(found.id, cipher.decrypt(found.name_token), json.loads(cipher.decrypt(found.texts_token)),
                    found.drill)


def delete_template(session: Session, template_id: int) -> bool:
    found = session.get(BroadcastTemplate, template_id)
    if found is None:
        return False
    session.delete(found)
    return True
