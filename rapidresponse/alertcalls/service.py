"""What an alert call's keys do, and a text's fallback to a call. No Flask, no Twilio.

One path per intent: a 1 or a 2 goes through `incidents.responses.answer`, the function an SMS
YES / NO goes through (same quorum, same reply, read back spoken), recorded in the thread "by call".
The key is written once on the call's outbound row (`keypress`, a conditional UPDATE), so a retried
Gather callback acts once. Everything else is looked up by our message id from the action URL and
checked against the CallSid Twilio posts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from rapidresponse.alertcalls import keypad
from rapidresponse.escalation import service as escalation
from rapidresponse.i18n import render
from rapidresponse.incidents import responses
from rapidresponse.incidents import service as incidents
from rapidresponse.incidents.models import Incident
from rapidresponse.incidents.service import AfterCommit
from rapidresponse.members.models import CALLABLE_CODES, Channel, Member, MemberStatus
from rapidresponse.messaging import outbox
from rapidresponse.messaging.models import Channel as MessageChannel
from rapidresponse.messaging.models import OutboundMessage, Purpose
from rapidresponse.services import Services

log = logging.getLogger(__name__)

# A text that comes back with one of these will not reach the member by text: a member with voice
# on gets one call instead. 30003 unreachable handset, 30004 blocked, 30005 unknown number,
# 30006 landline, 30007 carrier filtered, 21612 cannot route, 21614 not a mobile number.
FALLBACK_CODES = frozenset({30003, 30004, 30005, 30006, 30007, 21612, 21614})


@dataclass(frozen=True)
class Keypress:
    """One Gather callback: the call, our message id and play number (from the action URL), the keys."""

    call_sid: str
    message_id: int
    play: int
    digits: str | None


@dataclass
class Reply:
    """What the call does next: say `sentences` and hang up, or (replay set) say them, then play the
    alert `script` again gathering one key, as play number `replay`."""

    language: str
    sentences: list[str]
    message_id: int
    replay: int | None = None
    script: str = ""
    after: AfterCommit = field(default_factory=AfterCommit)


def on_keypress(svc: Services, press: Keypress, now: datetime) -> Reply:
    with svc.db.session() as session:
        message = session.get(OutboundMessage, press.message_id)
        if (message is None or message.channel != MessageChannel.VOICE.value
                or message.purpose != Purpose.ALERT.value or message.provider_sid not in (None, press.call_sid)):
            log.info("keypress for call %s that is not an alert call of ours", press.call_sid[-6:])
            return Reply("en", [render("voice.unknown", "en")], press.message_id)
        member = session.get(Member, message.member_id) if message.member_id is not None else None
        language = member.language if member is not None else "en"
        step = keypad.on_keys(press.digits, press.play)
        wrong = [render("voice.wrong_key", language)] if step.wrong_key else []
        if step.next is keypad.Next.REPLAY:
            return Reply(language, wrong, message.id, replay=step.play,
                         script=svc.cipher.decrypt(message.body_token))
        if step.next is keypad.Next.GOODBYE:
            return Reply(language, [*wrong, render("voice.goodbye", language)], message.id)
        return _answer(svc, session, message, member, press, step.yes, language, now)


def _answer(svc: Services, session: Session, message: OutboundMessage, member: Member | None, press: Keypress,
            yes: bool, language: str, now: datetime) -> Reply:
    key = keypad.Key.ON_MY_WAY.value if yes else keypad.Key.CANT_GO.value
    # The Gather may beat the sender's record of the SID: the call's own id is taken here then.
    first = session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.id == message.id, OutboundMessage.keypress.is_(None))
        .values(keypress=key, provider_sid=message.provider_sid or press.call_sid)
        .execution_options(synchronize_session=False)
    )
    if getattr(first, "rowcount", 0) != 1:
        return Reply(language, [render("voice.already", language)], message.id)  # a retried callback
    incident = session.get(Incident, message.incident_id) if message.incident_id is not None else None
    if member is None or not member.is_active:
        return Reply(language, [render("voice.not_member", language)], message.id)
    if incident is None or not incident.is_open:
        return Reply(language, [render("voice.closed", language)], message.id)
    result = responses.answer(svc, session, member, incident, yes, now, by="call")
    reply = result.reply or render("voice.already", language)
    return Reply(language, [keypad.speakable(reply, incident.code)], message.id, after=result.after)


@dataclass(frozen=True)
class FailedText:
    """What a fallback needs of a text that came back undelivered or failed."""

    id: int
    member_id: int | None
    incident_id: int | None
    layer: int | None
    purpose: str
    error_code: int | None


def fall_back(svc: Services, session: Session, text: FailedText, now: datetime) -> list[int]:
    """A raid alert that could not reach the member by text: one call instead (the same dedupe key as a
    planned call, so never a second one), if the member has voice on. A landline (30006, 21614) is
    switched to voice first, and not texted about it: it cannot read texts. Returns the call's id to
    send, if one was recorded."""
    if (text.purpose != Purpose.ALERT.value or text.member_id is None or text.incident_id is None
            or text.error_code not in FALLBACK_CODES):
        return []
    member = session.get(Member, text.member_id)
    if member is None or member.status != MemberStatus.ACTIVE.value or member.phone_token is None:
        return []
    if text.error_code in CALLABLE_CODES and member.channel == Channel.SMS.value:
        member.channel = Channel.VOICE.value
    if not Channel(member.channel).calls:
        return []  # they asked for texts only: escalation goes on as for any unanswered text
    incident = session.get(Incident, text.incident_id)
    if incident is None or not incident.is_open:
        return []
    if member.id in incidents.answered(session, svc.cipher, incident.id):
        return []
    tree = incidents.plan_of(svc.cipher, incident)
    original = session.get(OutboundMessage, text.id)
    script = escalation.call_script(incident, tree.name, svc.cipher.decrypt(incident.text_token), member.language)
    return outbox.record(session, svc.cipher, [outbox.Text(
        to=outbox.SealedNumber(member.phone_index, member.phone_token), body=script, purpose=Purpose.ALERT,
        channel=MessageChannel.VOICE, dedupe_key=escalation.call_dedupe_key(incident.id, member.id),
        member_id=member.id, incident_id=incident.id, layer=text.layer,
        valid_until=original.valid_until if original is not None else None,
    )], now)
