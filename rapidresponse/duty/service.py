"""Pause, duty hours, load counts and layer coverage applied to the database.

The rules are in the pure modules beside this one (spans, windows, rotation); this module reads
what they need, writes what they decided, and records the texts (never sends them).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, case, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from rapidresponse.duty.models import MemberLoad
from rapidresponse.duty.rotation import Candidate, DutyGroup, LayerPlan, plan_layer
from rapidresponse.duty.windows import DutyWindow
from rapidresponse.i18n import render
from rapidresponse.members.models import Member, MemberStatus, MemberTag
from rapidresponse.members.registry import Recipient, layer_tag
from rapidresponse.messaging import outbox
from rapidresponse.messaging.models import Purpose
from rapidresponse.privacy.crypto import FieldCipher
from rapidresponse.trees.model import Layer, Tree

LOAD_WINDOW_DAYS = 30
LOAD_BUCKET_DAYS = 5
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CHUNK = 500


# --- a member's own settings -----------------------------------------------------------------------


def pause(member: Member, until: datetime) -> None:
    """PAUSE: out of alerts until `until` (a new PAUSE replaces the old end)."""
    member.paused_until = until


def back(member: Member, now: datetime) -> bool:
    """BACK: end a pause now. False when there was none to end."""
    paused = member.paused_until is not None and member.paused_until > now
    member.paused_until = None
    return paused


def hours_of(member: Member) -> DutyWindow | None:
    if member.duty_start is None or member.duty_end is None:
        return None
    return DutyWindow(member.duty_start, member.duty_end)


def set_hours(member: Member, window: DutyWindow | None) -> None:
    member.duty_start = window.start if window else None
    member.duty_end = window.end if window else None


def forget(session: Session, member: Member) -> None:
    """STOP: nothing about their duty or load stays."""
    member.paused_until = None
    set_hours(member, None)
    member.last_alerted_at = None
    if member.id is not None:
        session.execute(delete(MemberLoad).where(MemberLoad.member_id == member.id))


# --- planning ----------------------------------------------------------------------------------------


def bucket_of(when: datetime) -> int:
    return (when - _EPOCH).days // LOAD_BUCKET_DAYS


def first_bucket(now: datetime) -> int:
    """The oldest bucket still inside the 30-day window (so the window is 30 days, to a bucket)."""
    return bucket_of(now - timedelta(days=LOAD_WINDOW_DAYS)) + 1


def orders_layer(session: Session, cipher: FieldCipher, tree: Tree, layer: Layer) -> bool:
    """Whether the layer must be planned whole (in rotation order) rather than streamed by member
    id: it alerts in waves, has a duty window, or holds a member with their own HOURS (who may be
    off duty and then counts against the quorum). One indexed look-up of the layer's tag."""
    if layer.wave is not None or layer.on_duty is not None:
        return True
    return session.scalar(select(Member.id).join(MemberTag).where(
        MemberTag.tag == layer_tag(cipher, tree.name, layer.number), Member.duty_start.is_not(None)).limit(1)) \
        is not None


@dataclass(frozen=True)
class Planned:
    """A layer's members as planning leaves them: in alert order, with the plan's counts."""

    order: list[Recipient]
    plan: LayerPlan


Reachable = dict[int, tuple[str, bytes, str, str | None]]  # member id -> phone index, token, language, zone


def read_layer(session: Session, members: Select[*tuple[Any, ...]],
               now: datetime) -> tuple[Reachable, list[Candidate]]:
    """Who `members` can reach, and what planning needs of each: pause, hours, last alert and the
    alerts over 30 days. `members` is a select of RECIPIENT_COLUMNS (escalation.service.layer_members
    says who a layer's alert can reach); one statement and one pass, a 10,000-member layer included
    (bench/duty_plan.py). Core rows (the connection, not the ORM session), fetched at once."""
    # Correlated, so each member's count is an index look-up whatever the planner knows of the
    # tables (a join to the grouped counts became a nested loop of 10,000 x 5,000 on a
    # PostgreSQL table not analyzed yet: 5 s).
    alerts = (select(func.sum(MemberLoad.alerts)).where(MemberLoad.member_id == Member.id,
                                                          MemberLoad.bucket >= first_bucket(now))
              .correlate(Member).scalar_subquery())
    query = members.add_columns(Member.paused_until, Member.duty_start, Member.duty_end, Member.last_alerted_at,
                                alerts)
    reachable: Reachable = {}
    found: list[Candidate] = []
    windows: dict[tuple[int, int], DutyWindow] = {}  # one DutyWindow per distinct window
    for member_id, index, token, language, zone, paused, start_at, end_at, last, count in \
            session.connection().execute(query).all():
        if token is None:
            continue  # no stored number: cannot be reached (members.registry.recipients)
        reachable[member_id] = (index, token, language, zone)
        hours = None
        if start_at is not None and end_at is not None:
            hours = windows.setdefault((start_at, end_at), DutyWindow(start_at, end_at))
        found.append(Candidate(member_id, zone, paused, hours, last, int(count or 0)))
    return reachable, found


def duty_groups(session: Session, members: Select[*tuple[Any, ...]], now: datetime) -> list[DutyGroup]:
    """Who `members` can reach, counted by pause (now) and own hours: what coverage needs of a
    layer, as a few rows whatever its size. The sweep counts every layer every few minutes, and
    read_layer's row per member held 75 MB of a worker's memory for a 100,000-member layer
    (2.4 s of CPU); the database counts them instead."""
    paused = case((Member.paused_until > now, 1), else_=0)
    query = (members.with_only_columns(paused, Member.duty_start, Member.duty_end, func.count(),
                                       maintain_column_froms=True)
             .where(Member.phone_token.is_not(None))  # as read_layer: no stored number, not reachable
             .group_by(paused, Member.duty_start, Member.duty_end))
    return [DutyGroup(bool(is_paused), DutyWindow(start, end) if start is not None and end is not None else None,
                      count)
            for is_paused, start, end, count in session.connection().execute(query).all()]


def plan(session: Session, tree: Tree, layer: Layer, members: Select[*tuple[Any, ...]], now: datetime, *,
         report_zone: str | None) -> Planned:
    """The layer's reachable members filtered (pause) and ordered (duty, zone, rotation); a
    Recipient only for whom the plan alerts."""
    reachable, found = read_layer(session, members, now)
    layer_plan = plan_layer(found, quorum=layer.quorum, now=now,
                            zone=tree.zone_info, window=layer.window, report_zone=report_zone,
                            zone_first=layer.zone_first or layer.wave is not None)
    return Planned([Recipient(member_id, *reachable[member_id]) for member_id in layer_plan.order], layer_plan)


# --- load counts ---------------------------------------------------------------------------------------


def _upsert(session: Session, rows: list[dict[str, Any]], column: str) -> None:
    """Add each row's count to its (member, bucket) row, creating it when missing."""
    if not rows:
        return
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(MemberLoad)
    stmt = stmt.on_conflict_do_update(index_elements=["member_id", "bucket"],
                                      set_={column: getattr(MemberLoad, column) + getattr(stmt.excluded, column)})
    session.execute(stmt, rows)


def note_alerted(session: Session, member_ids: Iterable[int], now: datetime) -> None:
    """These members were just alerted: the rotation moves them to the back; one more alert each."""
    ids = sorted(set(member_ids))
    bucket = bucket_of(now)
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        session.execute(update(Member).where(Member.id.in_(chunk)).values(last_alerted_at=now))
        _upsert(session, [{"member_id": m, "bucket": bucket, "alerts": 1} for m in chunk], "alerts")


def note_answer(session: Session, member_id: int, now: datetime, *, first: bool, yes: bool) -> None:
    """A member answered an alert (first answer to it: `answered`), saying they are on the way (`yes`)."""
    bucket = bucket_of(now)
    if first:
        _upsert(session, [{"member_id": member_id, "bucket": bucket, "answered": 1}], "answered")
    if yes:
        _upsert(session, [{"member_id": member_id, "bucket": bucket, "on_the_way": 1}], "on_the_way")


@dataclass(frozen=True)
class Load:
    alerts: int = 0
    answered: int = 0
    on_the_way: int = 0


def loads(session: Session, member_ids: Sequence[int], now: datetime) -> dict[int, Load]:
    """Each member's counts over the last 30 days (members with none are left out)."""
    found: dict[int, Load] = {}
    since = first_bucket(now)
    for start in range(0, len(member_ids), CHUNK):
        chunk = list(member_ids[start : start + CHUNK])
        for member_id, alerts, answered, on_the_way in session.execute(
                select(MemberLoad.member_id, func.sum(MemberLoad.alerts), func.sum(MemberLoad.answered),
                       func.sum(MemberLoad.on_the_way))
                .where(MemberLoad.member_id.in_(chunk), MemberLoad.bucket >= since)
                .group_by(MemberLoad.member_id)):
            found[member_id] = Load(int(alerts or 0), int(answered or 0), int(on_the_way or 0))
    return found


def drop_old_load(session: Session, now: datetime) -> int:
    """Counts older than the window are nobody's business any more."""
    result = session.execute(delete(MemberLoad).where(MemberLoad.bucket < first_bucket(now)))
    return int(getattr(result, "rowcount", 0) or 0)


# --- pauses that end by themselves ---------------------------------------------------------------------


def end_pauses(session: Session, cipher: FieldCipher, now: datetime, limit: int = 500) -> list[int]:
    """Pauses over by now: lifted once each (a conditional UPDATE) and the member told, once (the
    dedupe key names the pause's end). Returns the texts to send."""
    due = session.execute(
        select(Member.id, Member.paused_until, Member.phone_index, Member.phone_token, Member.language)
        .where(Member.paused_until.is_not(None), Member.paused_until <= now)
        .order_by(Member.paused_until).limit(limit)).all()
    texts = []
    for member_id, until, index, token, language in due:
        lifted = session.execute(update(Member).where(Member.id == member_id, Member.paused_until == until)
                                 .values(paused_until=None))
        if getattr(lifted, "rowcount", 0) != 1 or token is None or until is None:
            continue
        status = session.scalar(select(Member.status).where(Member.id == member_id))
        if status != MemberStatus.ACTIVE.value:
            continue
        texts.append(outbox.Text(to=outbox.SealedNumber(index, token), body=render("pause.ended", language),
                                 purpose=Purpose.DUTY, member_id=member_id,
                                 dedupe_key=f"pause_end:{member_id}:{int(until.timestamp())}"))
    return outbox.record(session, cipher, texts, now)
