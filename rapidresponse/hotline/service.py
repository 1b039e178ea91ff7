"""The hotline's work: a call is stored before it is answered; a recording opens a report through
the same function a texted report uses; a call that ends with nothing said is a missed call.

Each function takes what the webhook parsed, commits on its own, and is safe to repeat: Twilio
retries a webhook it got no answer to, and a repeated recording callback acts once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Connection, Table, bindparam, func, or_, select, update
from sqlalchemy.orm import Session, lazyload

from rapidresponse import audit
from rapidresponse.console import threads
from rapidresponse.console.models import Coordinator, console_phone_index
from rapidresponse.escalation import service as escalation
from rapidresponse.hotline import flow
from rapidresponse.hotline.models import CallOutcome, InboundCall, Recording, forgotten_call_sid, recording_sid_index
from rapidresponse.incidents import responses
from rapidresponse.incidents import service as incidents
from rapidresponse.incidents.models import Incident
from rapidresponse.incidents.service import AfterCommit
from rapidresponse.incidents.states import OPEN_STATUSES, IncidentStatus
from rapidresponse.members import registry
from rapidresponse.members.models import Member, Role
from rapidresponse.members.phones import InvalidNumberError, normalize_phone
from rapidresponse.messaging import outbox
from rapidresponse.privacy.crypto import FieldCipher
from rapidresponse.privacy.masking import mask_phone
from rapidresponse.services import Services
from rapidresponse.trees.model import Tree

log = logging.getLogger(__name__)

WITHHELD = "withheld"  # what an incident keeps as the reporter of a call without a caller ID
# A call still in progress after this long has ended without our hearing of it: a missed call
# (unless it reported). Longer than any hotline call can last (menus + a 120 s recording).
CALL_GIVEN_UP = timedelta(minutes=15)


@dataclass(frozen=True)
class Caller:
    """Who is calling, as far as the hotline needs to know."""

    phone: str | None  # E.164; None when withheld or unusable (never called back, never a member)
    language: str = "en"
    member_id: int | None = None
    coordinator_id: int | None = None  # a console coordinator's own phone
    member_coordinator: bool = False  # a member with the coordinator role

    @property
    def is_coordinator(self) -> bool:
        return self.coordinator_id is not None or self.member_coordinator


def caller_number(raw: str, region: str) -> str | None:
    """The caller's number in E.164, or None for a withheld or unparsable caller ID."""
    if flow.is_withheld(raw):
        return None
    try:
        return normalize_phone(raw, region)
    except InvalidNumberError:
        return None


# Every step of a call reads its row, and the recording's step writes three more: these few
# statements are built once, on the tables. Built anew through the ORM at each step, finding a
# call's row cost 0.2 ms of CPU; so it costs 0.03 ms (the database's own part is a tenth of that).
_calls = cast(Table, InboundCall.__table__)
_recordings = cast(Table, Recording.__table__)
_CALL_COLUMNS = (_calls.c.id, _calls.c.incident_id, _calls.c.outcome, _calls.c.ended_at)
_FIND_CALL = select(*_CALL_COLUMNS).where((_calls.c.call_sid == bindparam("sid"))
                                          | (_calls.c.call_sid == bindparam("forgotten")))
# The recording's step also wants the member calling, if any: found with the call's row, by the
# keyed hash its greeting stored, rather than by a query of its own (most hotline callers are not
# members, and then the report reads no member at all).
_FIND_CALL_AND_CALLER = select(
    *_CALL_COLUMNS, select(Member.id).where(Member.phone_index == _calls.c.from_index).scalar_subquery(),
).where((_calls.c.call_sid == bindparam("sid")) | (_calls.c.call_sid == bindparam("forgotten")))
_CALL_BY_ID = select(*_CALL_COLUMNS).where(_calls.c.id == bindparam("call_id"))
_CLAIM_FOR_REPORT = update(_calls).where(
    _calls.c.id == bindparam("call_id"), _calls.c.incident_id.is_(None),
    or_(_calls.c.outcome.is_(None), _calls.c.outcome != CallOutcome.REPORTED.value),
).values(outcome=CallOutcome.REPORTED.value, incident_id=bindparam("incident"))
_LINK_RECORDING = update(_recordings).where(_recordings.c.sid_index == bindparam("recording")) \
    .values(incident_id=bindparam("incident"))
_MISSED = update(_calls).where(
    _calls.c.id == bindparam("call_id"), _calls.c.outcome.is_(None), _calls.c.incident_id.is_(None),
).values(outcome=CallOutcome.MISSED.value, ended_at=bindparam("now"))
_ENDED = update(_calls).where(_calls.c.id == bindparam("call_id"), _calls.c.ended_at.is_(None)) \
    .values(ended_at=bindparam("now"))


@dataclass(frozen=True)
class StoredCall:
    """What the steps need of a call's row."""

    id: int
    incident_id: int | None
    outcome: str | None
    ended_at: datetime | None
    # Read with the row when asked (with_caller): the calling member's id, None for a non-member.
    member_id: int | None = None
    caller_known: bool = False


def find_call(session: Session, cipher: FieldCipher, call_sid: str, *, with_caller: bool = False) -> StoredCall | None:
    """The call by its CallSid, or by what is kept of it once deleted at the provider."""
    statement = _FIND_CALL_AND_CALLER if with_caller else _FIND_CALL
    row = session.connection().execute(statement, {"sid": call_sid,
                                                   "forgotten": forgotten_call_sid(cipher, call_sid)}).first()
    if row is None:
        return None
    if with_caller:
        return StoredCall(row[0], row[1], row[2], row[3], member_id=row[4], caller_known=True)
    return StoredCall(*row)


def call_by_id(session: Session, call_id: int) -> StoredCall | None:
    row = session.connection().execute(_CALL_BY_ID, {"call_id": call_id}).first()
    return StoredCall(*row) if row is not None else None


def store_call(session: Session, cipher: FieldCipher, call_sid: str, phone: str | None, now: datetime, *,
               with_caller: bool = False) -> StoredCall:
    """The call's row, inserted if this is the first we hear of it (a retry finds it stored, even
    once its record at the provider is deleted)."""
    known = find_call(session, cipher, call_sid, with_caller=with_caller)
    if known is not None:
        return known
    call = outbox.insert_unless_taken(session, InboundCall, {
        "call_sid": call_sid, "from_index": cipher.blind_index(phone) if phone else None,
        "from_token": cipher.encrypt(phone) if phone else None, "withheld": phone is None, "received_at": now,
        "outcome": None, "incident_id": None,
    })
    if call is not None:
        return StoredCall(call.id, None, None, None)
    stored = find_call(session, cipher, call_sid)  # stored meanwhile by a retry
    assert stored is not None
    return stored


_MEMBER_ID = select(Member.id).where(Member.phone_index == bindparam("member_index"))
_WHO_CALLS = select(
    _MEMBER_ID.scalar_subquery(),
    select(Coordinator.id).where(Coordinator.phone_index == bindparam("coordinator_index")).scalar_subquery(),
)


def member_calling(session: Session, cipher: FieldCipher, phone: str | None,
                   call: StoredCall | None = None) -> Member | None:
    """The member whose number calls, if any (a withheld caller is nobody's); read by the id found
    with the call's row when it was (`find_call(with_caller=True)`)."""
    if call is not None and call.caller_known:
        return session.get(Member, call.member_id, options=[lazyload(Member.tags)]) \
            if call.member_id is not None else None
    return registry.find_by_index(session, cipher.blind_index(phone)) if phone is not None else None


def identify(session: Session, cipher: FieldCipher, phone: str | None) -> Caller:
    if phone is None:
        return Caller(phone=None)
    # Both ids in one round trip; the member's row is read only when there is one (most callers
    # to a hotline are not members).
    member_id, coordinator_id = session.connection().execute(_WHO_CALLS, {
        "member_index": cipher.blind_index(phone), "coordinator_index": console_phone_index(cipher, phone)}).one()
    member = session.get(Member, member_id, options=[lazyload(Member.tags)]) if member_id is not None else None
    language = member.language if member is not None and member.is_active else "en"
    return Caller(
        phone=phone, language=language, member_id=member.id if member is not None else None,
        coordinator_id=coordinator_id,
        member_coordinator=member is not None and member.is_active and registry.has_role(cipher, member,
                                                                                         Role.COORDINATOR),
    )


def answer(svc: Services, call_sid: str, from_raw: str, now: datetime) -> Caller:
    """A call came in (or a step URL names a call we never saw): store it, then say who it is.
    Stored (committed by its own insert) before anything is said, so a call that reached us is
    never lost."""
    phone = caller_number(from_raw, svc.settings.default_region)
    # Each statement commits as it runs: the call is stored by the insert itself, whatever
    # happens next (one session: one connection checked out, and no BEGIN or COMMIT around it).
    with svc.db.autocommit_session() as session:
        call_id = store_call(session, svc.cipher, call_sid, phone, now).id
        caller = identify(session, svc.cipher, phone)
        if caller.is_coordinator:
            session.execute(update(InboundCall).where(InboundCall.id == call_id, InboundCall.outcome.is_(None))
                            .values(outcome=CallOutcome.DONE.value))
    log.info("hotline call %s from %s", call_sid[-6:], mask_phone(phone) if phone else "a withheld number")
    return caller


def store(svc: Services, call_sid: str, from_raw: str, now: datetime) -> None:
    """A step that needs nothing of the caller (its language is in the URL): the call stored, if new."""
    with svc.db.autocommit_session() as session:
        store_call(session, svc.cipher, call_sid, caller_number(from_raw, svc.settings.default_region), now)


def menu(svc: Services) -> flow.Menu:
    return flow.Menu(keys=svc.trees.voice_keys, default_tree=svc.trees.hotline_tree.name)


# --- recordings ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordingDone:
    """What a <Record> action posts (and what its query carried)."""

    call_sid: str
    from_raw: str
    recording_sid: str  # "" when nothing was recorded
    duration: int
    digits: str
    tree: str
    language: str
    attempt: int


@dataclass
class RecordingOutcome:
    what: flow.AfterRecording
    code: str | None = None
    someone_alerted: bool = True
    after: AfterCommit = field(default_factory=AfterCommit)


def on_recording(svc: Services, done: RecordingDone, now: datetime) -> RecordingOutcome:
    """A finished recording: stored (for the delete at the provider) and, when it says something
    or the caller stays on the line, a report. One report per call, however often it is posted."""
    phone = caller_number(done.from_raw, svc.settings.default_region)
    # The call and its recording are each committed by their own statement (no transaction
    # around them, two round trips fewer on PostgreSQL), before the report is opened on the same
    # connection: if opening it fails, or the process dies, the recording is still ours to delete
    # at the provider, and the same callback posted again, or the sweep (report_stranded), reports it.
    with svc.db.connection() as conn:
        return _on_recording(svc, conn, done, phone, now)


def _on_recording(svc: Services, conn: Connection, done: RecordingDone, phone: str | None,
                  now: datetime) -> RecordingOutcome:
    cipher = svc.cipher
    sid_index = recording_sid_index(cipher, done.recording_sid) if done.recording_sid else None
    with svc.db.autocommit_on(conn) as stored:
        call = store_call(stored, cipher, done.call_sid, phone, now, with_caller=True)
        if done.recording_sid:
            outbox.insert_ignoring_duplicates(stored, Recording, [{
                "sid_index": sid_index,
                "sid_token": cipher.encrypt(done.recording_sid), "call_id": call.id, "language": done.language,
                "duration_seconds": done.duration, "created_at": now, "delete_attempts": 0,
                "incident_id": call.incident_id,
            }], core=True)
        existing = reported_already(svc, stored, call)
        if existing is not None:
            return existing
        decision = flow.after_recording(done.duration, done.digits, done.attempt)
        if decision == flow.AfterRecording.AGAIN:
            return RecordingOutcome(decision)
        if decision == flow.AfterRecording.MISSED:
            mark_missed(stored, call.id, now)
            return RecordingOutcome(decision)
    tree = svc.trees.get(done.tree) if done.tree in svc.trees else svc.trees.hotline_tree
    with svc.db.session(conn) as session:
        return open_report(svc, session, call, phone, tree, done.duration, sid_index, now)


def open_report(svc: Services, session: Session, call: StoredCall, phone: str | None, tree: Tree, duration: int,
                sid_index: str | None, now: datetime) -> RecordingOutcome:
    """The call's report, through the function a texted report uses, and the call claimed for it
    (with its recording linked) in the same transaction: of two attempts at once (a repeated
    callback, the sweep), one opens it; the other waits on the call's row, finds it claimed, and
    its incident is rolled back unseen."""
    member = member_calling(session, svc.cipher, phone, call)
    text = f"voice report, {duration} s" if duration else "voice report, nothing said"
    reported = responses.report(svc, session, tree, text=text, reporter_phone=phone or WITHHELD,
                                reporter=member if member is not None and member.is_active else None,
                                inbound_id=None, now=now)
    incident = reported.incident
    connection = session.connection()
    claimed = connection.execute(_CLAIM_FOR_REPORT, {"call_id": call.id, "incident": incident.id})
    if claimed.rowcount != 1:
        session.rollback()
        again = reported_already(svc, session, call_by_id(session, call.id) or call)
        return again or RecordingOutcome(flow.AfterRecording.REPORT)
    if sid_index is not None:
        connection.execute(_LINK_RECORDING, {"recording": sid_index, "incident": incident.id})
    log.info("voice report %s (%s) from %s", incident.code, tree.name, mask_phone(phone) if phone else "withheld")
    return RecordingOutcome(flow.AfterRecording.REPORT, incident.code, reported.someone_alerted, reported.after)


# A recording stored this long ago whose call opened no report: the request failed while opening
# it (it takes milliseconds). Older than CALL_GIVEN_UP it is left a missed call: an alert about a
# report that old would send people to a scene long over.
STRANDED_AFTER = timedelta(minutes=1)


def report_stranded(svc: Services, now: datetime, limit: int = 100) -> list[AfterCommit]:
    """The sweep's part: recordings long enough to be a report (over 2 s) that opened none, because
    the request that stored them failed after committing them. Each is opened now, exactly once
    (open_report's claim), into the hotline's default tree: the key pressed lived only in that
    request's URL, and the default tree is where a caller who pressed no key is heard too."""
    with svc.db.session() as session:
        stranded = session.execute(
            select(Recording.call_id, Recording.duration_seconds, Recording.sid_index)
            .join(InboundCall, InboundCall.id == Recording.call_id)
            .where(Recording.incident_id.is_(None), InboundCall.incident_id.is_(None),
                   Recording.duration_seconds > flow.SHORTEST_REPORT_SECONDS,
                   Recording.created_at <= now - STRANDED_AFTER, Recording.created_at > now - CALL_GIVEN_UP)
            .order_by(Recording.id).limit(limit)).all()
    afters = []
    for call_id, duration, sid_index in stranded:
        with svc.db.session() as session:
            row = session.get(InboundCall, call_id)
            if row is None or row.incident_id is not None:
                continue
            call = StoredCall(row.id, row.incident_id, row.outcome, row.ended_at)
            phone = svc.cipher.decrypt(row.from_token) if row.from_token is not None else None
            outcome = open_report(svc, session, call, phone, svc.trees.hotline_tree, duration, sid_index, now)
        if outcome.after.start_incident is not None:  # (not when another attempt had just claimed it)
            log.warning("hotline: opened %s from a recording whose request had failed", outcome.code)
            afters.append(outcome.after)
    return afters


def reported_already(svc: Services, session: Session, call: StoredCall) -> RecordingOutcome | None:
    """This call's report, when one was opened already (a repeated callback hears the same answer)."""
    if call.incident_id is None:
        return None
    incident = session.get(Incident, call.incident_id)
    if incident is None:
        return None
    someone = escalation.anyone_to_alert(svc, session, incident, incidents.plan_of(svc.cipher, incident))
    return RecordingOutcome(flow.AfterRecording.REPORT, incident.code, someone)


def mark_missed(session: Session, call_id: int, now: datetime) -> bool:
    """A call that ended with nothing reported: coordinators see it and may call back."""
    return session.connection().execute(_MISSED, {"call_id": call_id, "now": now}).rowcount == 1


def call_ended(svc: Services, call_sid: str, status: str, now: datetime) -> bool:
    """The number's call-status callback: a call over with nothing reported is a missed call."""
    if status not in ("completed", "busy", "no-answer", "failed", "canceled"):
        return False
    with svc.db.autocommit_session() as session:  # one read, then one guarded update
        call = find_call(session, svc.cipher, call_sid)
        if call is None:
            return False  # never answered by us: nothing to call back about that we know of
        if call.outcome is None and call.incident_id is None and mark_missed(session, call.id, now):
            return True  # (ended_at set with it)
        if call.ended_at is None:
            session.connection().execute(_ENDED, {"call_id": call.id, "now": now})
        return False


def give_up_stale_calls(session: Session, now: datetime) -> int:
    """Calls still 'in progress' long after any call could be (the status callback was lost, or
    none is configured): missed calls, so none goes unseen. Run by the sweep."""
    result = session.execute(update(InboundCall).where(
        InboundCall.outcome.is_(None), InboundCall.incident_id.is_(None),
        InboundCall.received_at <= now - CALL_GIVEN_UP,
    ).values(outcome=CallOutcome.MISSED.value, ended_at=now))
    return int(getattr(result, "rowcount", 0) or 0)


def on_transcript(svc: Services, recording_sid: str, text: str, status: str, now: datetime) -> bool:
    """Twilio's transcription of an English recording: onto the recording and into the thread,
    encrypted, once."""
    text = text.strip()[:4000]
    if status != "completed" or not text or not recording_sid:
        return False
    with svc.db.session() as session:
        claimed = session.execute(update(Recording).where(
            Recording.sid_index == recording_sid_index(svc.cipher, recording_sid), Recording.transcript_token.is_(None),
        ).values(transcript_token=svc.cipher.encrypt(text)))
        if getattr(claimed, "rowcount", 0) != 1:
            return False
        incident_id = session.scalar(select(Recording.incident_id).where(
            Recording.sid_index == recording_sid_index(svc.cipher, recording_sid)))
        if incident_id is not None:
            incidents.append(session, svc.cipher, incident_id, "transcript", now, actor=incidents.REPORTER, body=text)
    return True


# --- the coordinator menu --------------------------------------------------------------------


def coordinator_target(svc: Services, incident_id: int | None, now: datetime) -> flow.Target | None:
    """The incident a coordinator's menu is about: the one named (open or not), else the newest open one."""
    with svc.db.session() as session:
        query = select(Incident)
        if incident_id is not None:
            query = query.where(Incident.id == incident_id)
        else:
            query = query.where(Incident.status.in_([s.value for s in OPEN_STATUSES]))
        incident = session.scalar(query.order_by(Incident.opened_at.desc(), Incident.id.desc()).limit(1))
        if incident is None:
            return None
        return flow.Target(id=incident.id, code=incident.code, tree=incidents.plan_of(svc.cipher, incident).name,
                           status=incident.status,
                           minutes_ago=int((now - incident.opened_at).total_seconds() // 60))


def by_keys(svc: Services, digits: str, now: datetime) -> flow.Target | None:
    """The open incident whose code the coordinator typed on the keypad (only if just one matches)."""
    with svc.db.session() as session:
        codes = list(session.scalars(select(Incident.open_code).where(Incident.open_code.is_not(None))))
        matches = flow.matching_codes(digits, [c for c in codes if c])
        if len(matches) != 1:
            return None
        incident_id = session.scalar(select(Incident.id).where(Incident.open_code == matches[0]))
    return coordinator_target(svc, incident_id, now)


@dataclass
class Decided:
    changed: bool
    code: str
    closed: bool = False
    after: AfterCommit = field(default_factory=AfterCommit)


def decide(svc: Services, call_sid: str, from_raw: str, decision: flow.Decision, incident_id: int,
           now: datetime) -> Decided | None:
    """A coordinator's keypress on an incident, through the same functions the console and a
    verifier's text use. None when the caller turns out not to be a coordinator."""
    phone = caller_number(from_raw, svc.settings.default_region)
    with svc.db.session() as session:
        caller = identify(session, svc.cipher, phone)
        incident = session.get(Incident, incident_id, with_for_update=True)
        if incident is None or not caller.is_coordinator:
            return None
        code = incident.code
        if not incident.is_open:
            return Decided(False, code, closed=True)
        if caller.coordinator_id is not None:
            outcome = threads.decide(svc, session, incident, threads.Decision(decision.value), caller.coordinator_id,
                                     now)
            return Decided(outcome.changed, code, after=outcome.after)
        member = session.get(Member, caller.member_id)
        assert member is not None
        if decision == flow.Decision.CONFIRM:
            was = incident.status
            result = responses.confirm(svc, session, member, incident, now)
            return Decided(was != IncidentStatus.CONFIRMED.value, code, after=result.after)
        status = IncidentStatus.FALSE_ALARM if decision == flow.Decision.FALSE_ALARM else IncidentStatus.RESOLVED
        result = responses.close(svc, session, member, incident, status, now)
        return Decided(True, code, after=result.after)


# --- for the console: missed calls and recordings ---------------------------------------------


@dataclass(frozen=True)
class MissedCall:
    id: int
    at: datetime
    caller: str  # "…4521", or "a withheld number"
    can_call_back: bool


def missed_calls(session: Session, cipher: FieldCipher, limit: int = 200) -> list[MissedCall]:
    """Missed hotline calls not yet dealt with, newest first; numbers masked."""
    rows = session.scalars(select(InboundCall).where(InboundCall.outcome == CallOutcome.MISSED.value)
                           .order_by(InboundCall.received_at.desc(), InboundCall.id.desc()).limit(limit))
    return [MissedCall(id=c.id, at=c.received_at,
                       caller=mask_phone(cipher.decrypt(c.from_token)) if c.from_token else "a withheld number",
                       can_call_back=c.from_token is not None) for c in rows]


def missed_count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(InboundCall).where(
        InboundCall.outcome == CallOutcome.MISSED.value)) or 0)


@dataclass(frozen=True)
class Revealed:
    call_id: int
    number: str


def reveal_caller(session: Session, cipher: FieldCipher, call_id: int, coordinator_id: int,
                  now: datetime) -> Revealed | None:
    """A missed call's number in full, for a coordinator to call back: the one door to it, audited.
    None for a call we do not have or a withheld caller (nothing to call back)."""
    call = session.get(InboundCall, call_id)
    if call is None or call.from_token is None:
        return None
    audit.record(session, coordinator_id, audit.AuditAction.REVEAL, now, target=audit.Target.CALL, target_id=call.id)
    log.info("coordinator #%d revealed the caller of hotline call %d", coordinator_id, call.id)
    return Revealed(call.id, cipher.decrypt(call.from_token))


def mark_called_back(session: Session, call_id: int, coordinator_id: int, now: datetime) -> bool:
    """A coordinator dealt with a missed call: off the list."""
    result = session.execute(update(InboundCall).where(
        InboundCall.id == call_id, InboundCall.outcome == CallOutcome.MISSED.value,
    ).values(outcome=CallOutcome.CALLED_BACK.value, handled_by=coordinator_id, handled_at=now))
    return getattr(result, "rowcount", 0) == 1


@dataclass(frozen=True)
class RecordingLine:
    id: int
    duration: int
    language: str
    playable: bool  # still at the provider
    transcript: str | None


def recordings_of(session: Session, cipher: FieldCipher, incident_id: int) -> list[RecordingLine]:
    rows = session.scalars(select(Recording).where(Recording.incident_id == incident_id).order_by(Recording.id))
    return [RecordingLine(id=r.id, duration=r.duration_seconds, language=r.language,
                          playable=r.sid_token is not None,
                          transcript=cipher.decrypt(r.transcript_token) if r.transcript_token else None)
            for r in rows]


def recording_to_play(session: Session, cipher: FieldCipher, incident_id: int, recording_id: int,
                      coordinator_id: int, now: datetime, *, audited: bool = True) -> str | None:
    """The provider's id of a recording of this incident, for streaming it to a coordinator
    (audited); None when there is no such recording or it is deleted at the provider."""
    recording = session.get(Recording, recording_id)
    if recording is None or recording.incident_id != incident_id or recording.sid_token is None:
        return None
    if audited:
        audit.record(session, coordinator_id, audit.AuditAction.LISTEN, now, target=audit.Target.RECORDING,
                     target_id=recording.id)
    return cipher.decrypt(recording.sid_token)
