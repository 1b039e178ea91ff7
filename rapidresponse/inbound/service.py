"""An inbound text: stored first, then turned into what the keyword says, then answered.

`receive` is what the webhook and the simulator call. It commits the stored text in its own
transaction before doing anything else, so a text that reached us is never lost; a retried
delivery (same MessageSid) finds it stored and does nothing twice.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Connection, Insert, Table, bindparam, exists, func, select, update
from sqlalchemy.orm import Session

from rapidresponse.broadcasts import service as broadcasts
from rapidresponse.campaigns import calls as campaign_calls
from rapidresponse.campaigns import service as campaigns
from rapidresponse.debriefs import service as debriefs
from rapidresponse.drills import service as drills
from rapidresponse.duty import service as duty
from rapidresponse.duty.spans import local_time, parse_span, pause_until
from rapidresponse.duty.windows import ALWAYS_WORDS, WindowError, parse_window
from rapidresponse.escalation import service as escalation
from rapidresponse.i18n import LANGUAGES, render
from rapidresponse.incidents import responses
from rapidresponse.incidents import service as incidents
from rapidresponse.incidents.models import Incident
from rapidresponse.incidents.service import AfterCommit
from rapidresponse.incidents.states import IncidentStatus
from rapidresponse.keywords import Command, normalize, parse
from rapidresponse.members import registry
from rapidresponse.members.models import CALLABLE_CODES, Channel, Member, MemberStatus, Role
from rapidresponse.members.phones import InvalidNumberError, normalize_phone
from rapidresponse.messaging import deletes, outbox
from rapidresponse.messaging.models import DeliveryStatus, InboundMessage, Purpose
from rapidresponse.privacy.masking import mask_phone
from rapidresponse.services import Services

log = logging.getLogger(__name__)

MAX_BODY = 1600  # Twilio's own limit for one message
# Replies to people who are not members: together capped per number per day (capped()). A report
# with no text is not capped: that may be someone in danger, and a report with text is never capped.
CAPPED_OUTCOMES = ("help_short", "join", "join_bad_zone", "language_unknown")

# The words a Messaging Service answers by itself (its default opt-out / opt-in keywords). Only these
# get no reply from us there: Twilio neither answers nor blocks on PARAR, ALTO or SI.
TWILIO_OPT_OUT_WORDS = frozenset({
    "STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT",
})
TWILIO_OPT_IN_WORDS = frozenset({"START", "UNSTOP", "YES"})


@dataclass(frozen=True)
class InboundText:
    message_sid: str
    from_number: str
    body: str


@dataclass
class Handled:
    reply: str | None = None
    duplicate: bool = False
    ignored: bool = False
    outcome: str = ""
    # Our id for the reply carried in the TwiML answer: its status callbacks find it by this.
    reply_id: int | None = None
    after: AfterCommit = field(default_factory=AfterCommit)


# The webhook's own statements, built once (Core, on the session's connection): an inbound text is
# the web's hottest path, and building, caching and loading ORM statements was most of its CPU.
_INBOUND = cast(Table, InboundMessage.__table__)
_SID_TAKEN = select(_INBOUND.c.id).where(_INBOUND.c.message_sid == bindparam("sid"))
# The claim that makes handling exactly once, returning what the handling needs: one round trip.
_CLAIM = (update(_INBOUND).where(_INBOUND.c.message_sid == bindparam("sid"), _INBOUND.c.outcome.is_(None))
          .values(outcome="handling")
          .returning(_INBOUND.c.id, _INBOUND.c.from_index, _INBOUND.c.from_token, _INBOUND.c.body_token))
_SET_OUTCOME = update(_INBOUND).where(_INBOUND.c.id == bindparam("stored_id")).values(outcome=bindparam("done"))
_STORED_COLUMNS = ("message_sid", "from_index", "from_token", "body_token", "received_at")


@functools.cache
def _store(dialect: str) -> Insert:
    """The text stored unless its SID is taken, or a retry of one deleted at the provider (whose SID
    is kept as a keyed hash, `forgotten`): INSERT ... SELECT ... WHERE NOT EXISTS ... ON CONFLICT
    DO NOTHING RETURNING id, one round trip where a look-up and an insert took two."""
    values = select(*(bindparam(name, type_=_INBOUND.c[name].type) for name in _STORED_COLUMNS)).where(
        ~exists().where(_INBOUND.c.message_sid == bindparam("forgotten")))
    stmt = outbox.insert_ignoring(dialect, _INBOUND).from_select(list(_STORED_COLUMNS), values)
    return stmt.returning(_INBOUND.c.id)


@dataclass(frozen=True)
class StoredText:
    """The stored row of the text being handled: its id and the sender's number as stored."""

    id: int
    from_index: str
    from_token: bytes


def receive(svc: Services, text: InboundText, now: datetime) -> Handled:
    """Store, then handle. Never raises for anything a sender can put in a text."""
    try:
        phone = normalize_phone(text.from_number, svc.settings.default_region)
    except InvalidNumberError as exc:
        log.info("inbound %s from unusable number %s ignored: %s", text.message_sid, mask_phone(text.from_number), exc)
        return Handled(ignored=True, outcome="bad_number")
    body = text.body[:MAX_BODY]
    cipher = svc.cipher
    forgotten = deletes.forgotten_sid(cipher, text.message_sid)
    with svc.db.connection() as conn:
        with conn.begin():  # committed before the text is handled
            stored_id = conn.scalar(_store(conn.dialect.name), {
                "message_sid": text.message_sid, "from_index": cipher.blind_index(phone),
                "from_token": cipher.encrypt(phone), "body_token": cipher.encrypt(body), "received_at": now,
                "forgotten": forgotten})
            # Not stored: a retry. Of a text already deleted at the provider, it is done with; of one
            # still here, the claim below tells whether it is handled already.
            if stored_id is None and conn.scalar(_SID_TAKEN, {"sid": forgotten}) is not None:
                return Handled(duplicate=True)
        # The number and text just stored are handed on as they are: no reading back, no decrypting.
        return handle_stored(svc, text.message_sid, now, known=(phone, body), conn=conn)


def handle_stored(svc: Services, message_sid: str, now: datetime, *, reply_by_text: bool = False,
                  known: tuple[str, str] | None = None, conn: Connection | None = None) -> Handled:
    """Handle a stored text exactly once (the webhook, or the sweep for one whose handling failed).

    The webhook answers in TwiML; the sweep, long after the webhook answered, sends the reply as a text.
    `known` is the (number, text) the caller has just stored, so they need not be decrypted again;
    `conn` the connection it was stored on, for this transaction too.
    """
    with svc.db.session(conn) as session:
        conn = session.connection()
        claimed = conn.execute(_CLAIM, {"sid": message_sid}).first()
        if claimed is None:
            if conn.scalar(_SID_TAKEN, {"sid": message_sid}) is None:
                return Handled(ignored=True)
            return Handled(duplicate=True)
        stored = StoredText(id=claimed.id, from_index=claimed.from_index, from_token=claimed.from_token)
        if known is not None:
            phone, body = known
        else:
            phone = svc.cipher.decrypt(claimed.from_token)
            body = svc.cipher.decrypt(claimed.body_token)
        handled = Conversation(svc, session, stored, phone, now).handle(parse(body, svc.trees.report_words))
        conn.execute(_SET_OUTCOME, {"stored_id": stored.id, "done": handled.outcome or "handled"})
        if handled.reply:
            # Recorded either way, so the reply caps and the record see it. A TwiML reply is queued
            # at the provider once we answer; its status callbacks bring its SID (for the delete).
            # To the number as it was stored with the text (the same keyed hash and ciphertext).
            reply = outbox.Text(to=outbox.SealedNumber(stored.from_index, stored.from_token), body=handled.reply,
                                purpose=Purpose.REPLY, dedupe_key=f"reply:{message_sid}")
            if reply_by_text:
                handled.after.send_ids.extend(outbox.record(session, svc.cipher, [reply], now))
                handled.reply = None
            else:
                handled.reply_id = outbox.record_one(session, svc.cipher, reply, now, DeliveryStatus.QUEUED)
    return handled


def unhandled(session: Session, older_than: datetime, limit: int = 100) -> list[str]:
    """Stored texts whose handling never finished (a crash between storing and answering)."""
    return list(session.scalars(select(InboundMessage.message_sid).where(
        InboundMessage.outcome.is_(None), InboundMessage.received_at <= older_than).limit(limit)).all())


class Conversation:
    """One inbound text from one number, and the member (if any) behind it."""

    def __init__(self, svc: Services, session: Session, inbound: StoredText, phone: str, now: datetime) -> None:
        self.svc, self.session, self.inbound, self.phone, self.now = svc, session, inbound, phone, now
        self.member: Member | None = registry.find_by_index(session, inbound.from_index)

    def language(self, command: Command) -> str:
        if self.member is not None:
            return self.member.language
        return command.language_hint if command.language_hint in LANGUAGES else "en"

    def reply(self, key: str, command: Command, outcome: str, **params: object) -> Handled:
        return Handled(reply=render(key, self.language(command), **params), outcome=outcome)

    def handle(self, command: Command) -> Handled:
        handler = getattr(self, f"on_{command.action.value}")
        result: Handled = handler(command)
        if self.member is not None:
            registry.restore_number(self.svc.cipher, self.member, self.phone)
        return result

    # Opt-out and opt-in come first: STOP is always honoured, whoever sends it.
    def on_stop(self, command: Command) -> Handled:
        if self.member is None:
            # Remember the refusal, so a later import cannot add them back without their START.
            self.member = registry.new_member(self.svc.cipher, self.phone, language=self.language(command),
                                              status=MemberStatus.OPTED_OUT)
            self.session.add(self.member)
        registry.opt_out(self.svc.cipher, self.member, self.now)
        duty.forget(self.session, self.member)
        log.info("member %s opted out", mask_phone(self.phone))
        if self.twilio_answers(command, TWILIO_OPT_OUT_WORDS):
            return Handled(outcome="stop")  # Twilio already answered; a second reply would be one too many
        return self.reply("stop.confirmed", command, "stop")

    def twilio_answers(self, command: Command, words: frozenset[str]) -> bool:
        """Whether a Messaging Service has already answered this text itself."""
        return self.svc.settings.uses_messaging_service and normalize(command.raw) in words

    def on_start(self, command: Command) -> Handled:
        if self.member is None:
            return self.capped_help(command)  # a stranger's START is as cheap to repeat as any text
        if self.member.consented_at is None:
            # They only ever texted STOP: START lifts the block, but joining still needs a YES.
            self.member.status = MemberStatus.PENDING.value
            self.member.opted_out_at = None
            return self.reply("join.confirm_prompt", command, "join")
        registry.opt_back_in(self.member, self.now)
        if self.twilio_answers(command, TWILIO_OPT_IN_WORDS):
            return Handled(outcome="start")
        return self.reply("start.confirmed", command, "start")

    def on_join(self, command: Command) -> Handled:
        zone = None
        if command.argument:
            try:
                zone = registry.normalize_zone(command.argument)
            except registry.MemberError:
                return self.capped("zone.missing", command, "join_bad_zone")
        if self.member is not None and self.member.status == MemberStatus.OPTED_OUT.value:
            # JOIN after STOP is a fresh request: ask again, as for anyone new.
            self.member.status = MemberStatus.PENDING.value
        member, already = registry.join(self.session, self.svc.cipher, self.phone, language=self.language(command),
                                        zone=zone, now=self.now)
        self.member = member
        if already:
            return self.reply("join.already", command, "join_already")
        return self.capped("join.confirm_prompt", command, "join")

    def on_yes(self, command: Command) -> Handled:
        member = self.member
        if member is None:
            return self.capped_help(command)
        if member.status == MemberStatus.OPTED_OUT.value:
            return self.on_start(command)
        if member.status == MemberStatus.PENDING.value:
            registry.confirm(member, self.now)
            if member.zone:
                return self.reply("join.welcome_zone", command, "join_confirmed", zone=member.zone)
            return self.reply("join.welcome", command, "join_confirmed")
        return self.on_answer(command, yes=True)

    def on_ack(self, command: Command) -> Handled:
        return self.on_answer(command, yes=True)

    def on_decline(self, command: Command) -> Handled:
        return self.on_answer(command, yes=False)

    def on_answer(self, command: Command, *, yes: bool) -> Handled:
        if self.member is None or not self.member.is_active:
            return self.capped_help(command)
        if command.code is None:
            debriefed = self.debrief_reply(command)  # "1" / "2" to "how did it go?", when no alert is open
            if debriefed is not None:
                return debriefed
        incident, problem = self.target(command)
        if incident is None:
            assert problem is not None
            return problem
        result = responses.answer(self.svc, self.session, self.member, incident, yes, self.now)
        return Handled(reply=result.reply, outcome="ack" if yes else "decline", after=result.after)

    def on_call_me(self, command: Command) -> Handled:
        """CALL ME / LLAMAME: alerts ring as a call too (texts keep coming where the number takes them)."""
        return self.set_channel(command, Channel.BOTH, "channel.call_me")

    def on_text_me(self, command: Command) -> Handled:
        """TEXT ME / TEXTO: alerts by text only. Texting from the number shows it takes texts after all."""
        if self.member is not None and self.member.undeliverable_code in CALLABLE_CODES:
            self.member.undeliverable_code = None
        return self.set_channel(command, Channel.SMS, "channel.text_me")

    def set_channel(self, command: Command, channel: Channel, key: str) -> Handled:
        member = self.member
        if member is None or not member.is_active:
            return self.capped_help(command)
        member.channel = channel.value
        return self.reply(key, command, f"channel_{channel.value}")

    def on_pause(self, command: Command) -> Handled:
        """PAUSE / PAUSA [span]: out of alerts (not out of the network) until the time it says."""
        member = self.member
        if member is None or not member.is_active:
            return self.capped_help(command)
        span = parse_span(command.argument)
        if span is None:
            return self.reply("pause.help", command, "pause_help")
        paused = pause_until(self.now, span)
        duty.pause(member, paused.until)
        until = local_time(paused.until, self.svc.trees.zone_info, member.language)
        return self.reply("pause.capped" if paused.capped else "pause.set", command, "pause", until=until)

    def on_back(self, command: Command) -> Handled:
        """BACK / VUELVO: a pause ends now."""
        member = self.member
        if member is None or not member.is_active:
            return self.capped_help(command)
        if duty.back(member, self.now):
            return self.reply("back.done", command, "back")
        return self.reply("back.not_paused", command, "back_not_paused")

    def on_hours(self, command: Command) -> Handled:
        """HOURS 6-14 / HORAS 6-14: the member's own duty window (HOURS ALL clears it)."""
        member = self.member
        if member is None or not member.is_active:
            return self.capped_help(command)
        if command.argument in ALWAYS_WORDS:
            duty.set_hours(member, None)
            return self.reply("hours.cleared", command, "hours_cleared")
        try:
            window = parse_window(command.argument)
        except WindowError:
            return self.reply("hours.help", command, "hours_help")
        duty.set_hours(member, window)
        return self.reply("hours.set", command, "hours", hours=str(window))
    # Call-in campaigns (campaigns/): ACTION / ACCION, CALL / LLAMAR, DONE / HECHO.
    def on_campaign_join(self, command: Command) -> Handled:
        """The ask of the running campaign that takes ACTION, texted once (no TwiML reply: the ask is it)."""
        member = self.member
        if member is None or not member.is_active:
            return self.capped_help(command)
        joined = campaigns.join(self.session, self.svc.cipher, member, self.now)
        if joined.campaign_id is None:
            return self.reply("campaign.none", command, "campaign_none")
        if joined.already:
            return self.reply("campaign.already_asked", command, "campaign_already")
        return Handled(outcome="campaign_join", after=AfterCommit(send_ids=joined.send_ids))

    def on_campaign_call(self, command: Command) -> Handled:
        """CALL / LLAMAR: we call the member and bridge them to the target from our number."""
        member = self.member
        if member is None or not member.is_active:
            return self.capped_help(command)
        asked = campaign_calls.request_call(self.session, self.svc.cipher, member, self.now)
        handled = self.reply(asked.key, command, "campaign_call", **asked.params)
        handled.after.send_ids.extend(asked.send_ids)
        return handled

    def on_campaign_done(self, command: Command) -> Handled:
        """DONE / HECHO [voicemail | talked | hung up]: one more call counted, nothing kept of who."""
        member = self.member
        if member is None or not member.is_active:
            return self.capped_help(command)
        asked = campaign_calls.report_done(self.session, member, command.argument, self.now)
        return self.reply(asked.key, command, "campaign_done", **asked.params)

    def on_help(self, command: Command) -> Handled:
        return self.reply("help.text", command, "help")

    def on_language(self, command: Command) -> Handled:
        if command.argument not in LANGUAGES:
            return self.capped("language.unknown", command, "language_unknown")
        if self.member is None:
            # Nothing to remember a stranger's language on: answer the short help in it.
            return self.capped("help.short", replace(command, language_hint=command.argument), "help_short")
        self.member.language = command.argument
        return Handled(reply=render("language.changed", command.argument), outcome="language")

    def on_zone(self, command: Command) -> Handled:
        if self.member is None:
            return self.capped_help(command)
        try:
            zone = registry.normalize_zone(command.argument)
        except registry.MemberError:
            return self.reply("zone.missing", command, "zone_missing")
        self.member.zone = zone
        return self.reply("zone.set", command, "zone", zone=zone)

    def on_report(self, command: Command) -> Handled:
        # Anyone may report, member or not: the person in danger is rarely a member.
        if not command.argument.strip():
            return self.reply("report.needs_text", command, "report_empty")
        tree = self.svc.trees.get(command.tree)
        reported = responses.report(self.svc, self.session, tree, text=command.argument.strip(),
                                    reporter_phone=self.phone, reporter=self.member, inbound_id=self.inbound.id,
                                    now=self.now)
        code = reported.incident.code
        log.info("report %s (%s) from %s", code, tree.name, mask_phone(self.phone))
        key = "report.received" if reported.someone_alerted else "report.received_nobody"
        return Handled(reply=render(key, self.language(command), code=code), outcome="report", after=reported.after)

    def on_drill(self, command: Command) -> Handled:
        """DRILL ice eastside / SIMULACRO migra centro from a coordinator starts a drill; from anyone
        else it is an ordinary message (news that starts with the word "drill")."""
        member = self.member
        if member is None or not member.is_active or not registry.has_role(self.svc.cipher, member, Role.COORDINATOR):
            return self.on_other(command)
        if command.tree is None or command.tree not in self.svc.trees:
            return self.reply("drill.usage", command, "drill_usage")
        zone = None
        if command.argument:
            try:
                zone = registry.normalize_zone(command.argument)
            except registry.MemberError:
                return self.reply("drill.usage", command, "drill_usage")
        tree = self.svc.trees.get(command.tree)
        started = drills.start(self.svc, self.session, tree, self.now, actor="coordinator by text", zone=zone,
                               starter=member, starter_phone=self.phone)
        code = started.incident.code
        label = escalation.tree_label(tree.name, member.language)
        if started.already:
            return self.reply("drill.already", command, "drill_already", code=code, tree_label=label)
        log.info("drill %s (%s) started by %s", code, tree.name, mask_phone(self.phone))
        key = "drill.started" if started.someone_alerted else "drill.started_nobody"
        return Handled(reply=render(key, member.language, code=code, tree_label=label), outcome="drill",
                       after=started.after)

    def on_confirm(self, command: Command) -> Handled:
        return self.decide(command, None)

    def on_false_alarm(self, command: Command) -> Handled:
        return self.decide(command, IncidentStatus.FALSE_ALARM)

    def on_resolve(self, command: Command) -> Handled:
        return self.decide(command, IncidentStatus.RESOLVED)

    def decide(self, command: Command, closing: IncidentStatus | None) -> Handled:
        member = self.member
        if member is None or not member.is_active:
            return self.capped_help(command)
        cipher = self.svc.cipher
        if not (registry.has_role(cipher, member, Role.COORDINATOR) or registry.places(cipher, member).trees):
            return self.reply("incident.not_allowed", command, "decide_refused")
        incident, problem = self.target(command)
        if incident is None:
            assert problem is not None
            return problem
        if closing is None:
            result = responses.confirm(self.svc, self.session, member, incident, self.now)
        else:
            result = responses.close(self.svc, self.session, member, incident, closing, self.now)
        return Handled(reply=result.reply, outcome=command.action.value, after=result.after)

    def on_other(self, command: Command) -> Handled:
        member = self.member
        involved = member is not None and member.is_active and (
            registry.has_role(self.svc.cipher, member, Role.RESPONDER)
            or registry.has_role(self.svc.cipher, member, Role.COORDINATOR)
            or bool(registry.places(self.svc.cipher, member).trees))
        candidates = incidents.open_incidents_for(self.session, member, self.inbound.from_index)
        if command.code or candidates:
            incident, problem = self.target(command, candidates)
            if incident is not None:
                result = responses.relay(self.svc, self.session, member, self.phone, incident, command.raw.strip(),
                                         self.inbound.id, self.now)
                return Handled(reply=result.reply, outcome="relay", after=result.after)
            if involved and problem is not None:
                return problem
        debriefed = self.debrief_reply(command) if not command.code else None
        if debriefed is not None:
            return debriefed
        if member is not None and member.is_active and self.svc.settings.broadcast_reply_hours > 0:
            # An answer to the broadcast they last received: into that broadcast's thread.
            answered = broadcasts.replied_to(self.session, member.id, self.now,
                                             timedelta(hours=self.svc.settings.broadcast_reply_hours))
            if answered is not None:
                broadcasts.record_reply(self.session, self.svc.cipher, answered, member.id, self.inbound.id,
                                        command.raw.strip(), self.now)
                return self.reply("broadcast.reply_noted", command, "broadcast_reply")
        if involved:
            return self.reply("responder.noted", command, "noted")
        return self.capped_help(command)

    def debrief_reply(self, command: Command) -> Handled | None:
        """An answer to the debrief this member was asked (within DEBRIEF_HOURS of asking), unless an
        alert is open for them: then 1 and 2 and words are about the alert."""
        member = self.member
        hours = self.svc.settings.debrief_hours
        if member is None or not member.is_active or hours <= 0:
            return None
        debrief = debriefs.awaiting(self.session, self.svc.cipher, member, self.now, timedelta(hours=hours))
        if debrief is None or incidents.open_incidents_for(self.session, member, self.inbound.from_index):
            return None
        answered = debriefs.answer(self.session, self.svc.cipher, debrief, member, normalize(command.raw)
                                   if normalize(command.raw) in ("1", "2") else command.raw, self.now)
        return self.reply(answered.reply_key, command, f"debrief_{answered.answer}")

    def target(self, command: Command, candidates: list[Incident] | None = None
               ) -> tuple[Incident | None, Handled | None]:
        """The incident a reply is about: its code, else the only open one the person is part of."""
        if command.code:
            incident = incidents.find_open_by_code(self.session, command.code)
            if incident is None or not self.part_of(incident):
                return None, self.reply("incident.unknown_code", command, "unknown_code", code=command.code)
            return incident, None
        if candidates is None:
            candidates = incidents.open_incidents_for(self.session, self.member, self.inbound.from_index)
        if not candidates:
            return None, self.reply("ack.no_open", command, "no_open")
        if len(candidates) > 1:
            codes = ", ".join(i.code for i in candidates[:6])
            return None, self.reply("ack.ambiguous", command, "ambiguous", codes=codes, example=candidates[0].code)
        return candidates[0], None

    def part_of(self, incident: Incident) -> bool:
        if incident.reporter_index == self.inbound.from_index:
            return True
        member = self.member
        if member is None:
            return False
        cipher = self.svc.cipher
        tree = incidents.plan_of(cipher, incident)
        return registry.has_role(cipher, member, Role.COORDINATOR) \
            or registry.in_layers(cipher, member, tree.name, [layer.number for layer in tree.layers]) \
            or incidents.alerted_layer(self.session, incident.id, member.id) is not None

    def capped_help(self, command: Command) -> Handled:
        return self.capped("help.short", command, "help_short")

    def capped(self, key: str, command: Command, outcome: str, **params: object) -> Handled:
        """A reply to someone who is not (yet) a member, at most N a day to one number of all such
        replies together, so no one can make us text a number endlessly."""
        if self.member is not None and self.member.is_active:
            return self.reply(key, command, outcome, **params)
        since = self.now - timedelta(days=1)
        count = self.session.scalar(select(func.count()).select_from(InboundMessage).where(
            InboundMessage.from_index == self.inbound.from_index, InboundMessage.outcome.in_(CAPPED_OUTCOMES),
            InboundMessage.received_at >= since)) or 0
        if count >= self.svc.settings.unknown_sender_reply_limit:
            return Handled(outcome=f"{outcome}_capped")
        return self.reply(key, command, outcome, **params)
