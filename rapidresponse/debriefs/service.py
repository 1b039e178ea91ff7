"""Debriefs: a day after an incident closes, those who said YES are asked how it went.

`plan` writes one Debrief per YES when the incident closes (before its participants are forgotten);
the sweep's `send_due` texts each once it is due; a reply within as long again (`1` fine, `2`
need support, or a few words) lands in the incident's thread under the member's role only, and
"need support" stays on the console's follow-ups until a coordinator marks it dealt with.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from rapidresponse.debriefs.models import Debrief, DebriefAnswer
from rapidresponse.i18n import render
from rapidresponse.incidents import service as incidents
from rapidresponse.incidents.models import Incident
from rapidresponse.members.models import Member, MemberStatus
from rapidresponse.messaging import outbox
from rapidresponse.messaging.models import Purpose
from rapidresponse.privacy.crypto import FieldCipher
from rapidresponse.privacy.masking import mask_phone


def member_tag(cipher: FieldCipher, member_id: int) -> str:
    return cipher.tag(f"debrief:{member_id}")


def plan(session: Session, cipher: FieldCipher, incident_id: int, member_ids: Iterable[int], due: datetime,
         now: datetime) -> int:
    """One debrief per member who said YES, due at `due` (once per incident and member)."""
    existing = set(session.scalars(select(Debrief.member_tag).where(Debrief.incident_id == incident_id)))
    rows = []
    for member_id in sorted(set(member_ids)):
        tag = member_tag(cipher, member_id)
        if tag not in existing:
            rows.append(Debrief(incident_id=incident_id, member_tag=tag, member_token=cipher.encrypt(str(member_id)),
                                due_at=due, created_at=now))
    session.add_all(rows)
    return len(rows)


def send_due(session: Session, cipher: FieldCipher, now: datetime, limit: int = 500) -> list[int]:
    """Text the debriefs that are due (each claimed once by a conditional UPDATE); the outbox ids."""
    due = list(session.scalars(select(Debrief).where(Debrief.sent_at.is_(None), Debrief.due_at <= now)
                               .order_by(Debrief.id).limit(limit)))
    texts = []
    for debrief in due:
        claimed = session.execute(update(Debrief).where(Debrief.id == debrief.id, Debrief.sent_at.is_(None))
                                  .values(sent_at=now))
        if getattr(claimed, "rowcount", 0) != 1:
            continue
        incident = session.get(Incident, debrief.incident_id)
        member = session.get(Member, int(cipher.decrypt(debrief.member_token)))
        if incident is None or member is None or member.status != MemberStatus.ACTIVE.value \
                or member.phone_token is None:
            continue  # left the network since: not asked
        body = incidents.marked(incident, member.language, render("debrief.ask", member.language, code=incident.code))
        texts.append(outbox.Text(to=outbox.SealedNumber(member.phone_index, member.phone_token), body=body,
                                 purpose=Purpose.RELAY, dedupe_key=f"debrief:{debrief.id}", member_id=member.id,
                                 incident_id=incident.id))
        incidents.append(session, cipher, incident.id, "debrief_asked", now, actor="system")
    return outbox.record(session, cipher, texts, now) if texts else []


def awaiting(session: Session, cipher: FieldCipher, member: Member, now: datetime,
             window: timedelta) -> Debrief | None:
    """The debrief this member was last asked, if asked within `window`: their reply goes to it."""
    return session.scalars(select(Debrief).where(
        Debrief.member_tag == member_tag(cipher, member.id), Debrief.sent_at.is_not(None),
        Debrief.sent_at >= now - window).order_by(Debrief.sent_at.desc(), Debrief.id.desc()).limit(1)).first()


@dataclass(frozen=True)
class Answered:
    reply_key: str
    answer: str


def answer(session: Session, cipher: FieldCipher, debrief: Debrief, member: Member, text: str,
           now: datetime) -> Answered:
    """`1` fine, `2` need support, anything else a few words: into the incident's thread (under the
    member's role: the incident is closed and has forgotten who went). The latest 1 or 2 is the
    answer (someone fine yesterday may need support today); words are added to the thread too."""
    cleaned = text.strip()
    kind = {"1": DebriefAnswer.FINE, "2": DebriefAnswer.SUPPORT}.get(cleaned, DebriefAnswer.TEXT)
    if kind != DebriefAnswer.TEXT or debrief.answer is None:
        debrief.answer, debrief.answered_at = kind, now
    incidents.append(session, cipher, debrief.incident_id, "debrief", now, member=member,
                     body=cleaned if kind == DebriefAnswer.TEXT else None, detail={"answer": kind})
    return Answered({DebriefAnswer.FINE: "debrief.fine", DebriefAnswer.SUPPORT: "debrief.support"}.get(
        kind, "debrief.noted"), kind)


@dataclass(frozen=True)
class FollowUp:
    """A "need support" answer a coordinator has yet to deal with."""

    debrief_id: int
    incident_id: int
    code: str
    answered_at: datetime
    masked: str  # the member's number, …4521
    drill: bool


def follow_ups(session: Session, cipher: FieldCipher, incident_id: int | None = None) -> list[FollowUp]:
    query = select(Debrief, Incident).join(Incident, Incident.id == Debrief.incident_id).where(
        Debrief.answer == DebriefAnswer.SUPPORT, Debrief.support_done_at.is_(None))
    if incident_id is not None:
        query = query.where(Debrief.incident_id == incident_id)
    found = []
    for debrief, incident in session.execute(query.order_by(Debrief.answered_at)):
        member = session.get(Member, int(cipher.decrypt(debrief.member_token)))
        phone = cipher.decrypt(member.phone_token) if member is not None and member.phone_token else None
        found.append(FollowUp(debrief.id, incident.id, incident.code, debrief.answered_at or debrief.created_at,
                              mask_phone(phone) if phone else "(left the network)", incident.drill))
    return found


def reveal_number(session: Session, cipher: FieldCipher, debrief_id: int) -> str | None:
    """The full number behind a follow-up (the console audits the reveal)."""
    debrief = session.get(Debrief, debrief_id)
    if debrief is None or debrief.answer != DebriefAnswer.SUPPORT:
        return None
    member = session.get(Member, int(cipher.decrypt(debrief.member_token)))
    return cipher.decrypt(member.phone_token) if member is not None and member.phone_token else None


def incident_of(session: Session, debrief_id: int) -> int | None:
    return session.scalar(select(Debrief.incident_id).where(Debrief.id == debrief_id))


def mark_done(session: Session, debrief_id: int, coordinator_id: int, now: datetime) -> bool:
    done = session.execute(update(Debrief).where(Debrief.id == debrief_id, Debrief.answer == DebriefAnswer.SUPPORT,
                                                 Debrief.support_done_at.is_(None))
                           .values(support_done_at=now, support_done_by=coordinator_id))
    return getattr(done, "rowcount", 0) == 1
