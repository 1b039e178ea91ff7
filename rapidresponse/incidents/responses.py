"""What people do to an incident by text: acknowledge, decline, confirm, stand down, resolve, reply.

Each function returns the reply for the person who texted (or None) and the work left for after
commit. Texts to others go through the outbox, each in the recipient's language.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from rapidresponse.afteraction import service as afteraction
from rapidresponse.debriefs import service as debriefs
from rapidresponse.duty import service as duty
from rapidresponse.escalation import service as escalation
from rapidresponse.escalation.policy import responders_on_the_way
from rapidresponse.i18n import render
from rapidresponse.incidents import service as incidents
from rapidresponse.incidents.models import Incident
from rapidresponse.incidents.service import AfterCommit
from rapidresponse.incidents.states import IncidentStatus, LayerStatus
from rapidresponse.members.models import Member
from rapidresponse.members.registry import Recipient
from rapidresponse.messaging import outbox
from rapidresponse.messaging.models import Purpose
from rapidresponse.privacy.masking import mask_phone_numbers
from rapidresponse.services import Services
from rapidresponse.trees.model import Tree

# What everyone already alerted is told when an incident closes.
CLOSING_MESSAGES = {
    IncidentStatus.FALSE_ALARM: "incident.stand_down",
    IncidentStatus.RESOLVED: "incident.resolved",
    IncidentStatus.DRILL: "incident.drill",
}


# The longest free text passed on in a relayed copy.
RELAY_MAX = 300


@dataclass
class Result:
    reply: str | None = None
    after: AfterCommit = field(default_factory=AfterCommit)


@dataclass
class Reported:
    incident: Incident
    someone_alerted: bool  # False: every layer is empty; only the coordinators are told
    after: AfterCommit


def report(svc: Services, session: Session, tree: Tree, *, text: str, reporter_phone: str,
           reporter: Member | None, inbound_id: int | None, now: datetime) -> Reported:
    """A report, by text or by call: an incident with a fresh code and its tree frozen onto it;
    its first layer (the verifiers) is alerted once the caller commits (`after.start_incident`)."""
    incident = incidents.open_incident(
        session, svc.cipher, tree, text=text, reporter_phone=reporter_phone, reporter=reporter,
        inbound_id=inbound_id, now=now,
    )
    # The truth: with nobody in the tree, no volunteer is being alerted; the coordinators are
    # (escalation.nobody_to_alert, once the first evaluation finds every layer empty).
    someone = escalation.anyone_to_alert(svc, session, incident, tree)
    return Reported(incident, someone, AfterCommit(start_incident=incident.id))


def wanted(tree: Tree, incident: Incident) -> int:
    """The quorum people are told about: that of the latest responding layer alerted (else the first)."""
    responding = [layer for layer in tree.layers if not layer.verifies]
    if not responding:
        return tree.layers[-1].quorum
    alerted = {lay.number for lay in incident.layers if lay.status == LayerStatus.ALERTED.value}
    current = [layer for layer in responding if layer.number in alerted]
    return (current[-1] if current else responding[0]).quorum


def answer(svc: Services, session: Session, member: Member, incident: Incident, yes: bool,
           now: datetime, *, by: str = "sms") -> Result:
    """YES / 1 / OMW (on my way) or NO / 2 from someone alerted, by text or (`by="call"`) by a key
    pressed during an alert call: the same quorum, the same reply (marked DRILL in a drill)."""
    result = _answer(svc, session, member, incident, yes, now, by=by)
    if result.reply is not None:
        result.reply = incidents.marked(incident, member.language, result.reply)
    return result


def _answer(svc: Services, session: Session, member: Member, incident: Incident, yes: bool,
            now: datetime, *, by: str) -> Result:
    lang = member.language
    code = incident.code
    was_covered = incident.covered_at is not None
    recorded = incidents.record_answer(session, svc.cipher, incident, member, "yes" if yes else "no", now, by=by)
    if recorded.recorded:
        duty.note_answer(session, member.id, now, first=recorded.first, yes=yes)
    if not yes:
        return Result(render("ack.declined", lang, code=code))
    tree = incidents.plan_of(svc.cipher, incident)
    layer = tree.layer(recorded.layer or 0)
    if layer is not None and layer.verifies:
        return Result(render("ack.verifier", lang, code=code))
    on_the_way = responders_on_the_way(tree, incidents.yes_by_layer(session, incident.id))
    if was_covered:
        return Result(render("ack.late", lang, code=code, count=on_the_way))
    after = escalation.evaluate(svc, session, incident.id, now) if recorded.recorded else AfterCommit()
    session.refresh(incident)
    if incident.covered_at is not None:
        return Result(render("ack.thanks_covered", lang, code=code), after)
    return Result(render("ack.thanks", lang, code=code, count=on_the_way, quorum=wanted(tree, incident)), after)


def confirm(svc: Services, session: Session, member: Member, incident: Incident, now: datetime) -> Result:
    """A verifier's CONFIRM K7: the report is real; the next layer goes at once."""
    lang = member.language
    if not incidents.may_decide(svc.cipher, incident, member):
        return Result(render("incident.not_allowed", lang))
    after = confirm_incident(svc, session, incident, now, actor="", member=member) \
        or escalation.evaluate(svc, session, incident.id, now)
    return Result(incidents.marked(incident, lang, render("incident.confirmed_ack", lang, code=incident.code)), after)


def confirm_incident(svc: Services, session: Session, incident: Incident, now: datetime, *, actor: str,
                     member: Member | None = None) -> AfterCommit | None:
    """Mark an incident confirmed and alert what that makes due; None if it already was (also used
    by the console)."""
    if not incidents.set_status(session, svc.cipher, incident, IncidentStatus.CONFIRMED, now, actor=actor,
                                member=member):
        return None
    return escalation.evaluate(svc, session, incident.id, now)


def close(svc: Services, session: Session, member: Member, incident: Incident, status: IncidentStatus,
          now: datetime) -> Result:
    """FALSE K7 stands everyone down; RESOLVE K7 closes it. Unsent alerts are cancelled."""
    lang = member.language
    if not incidents.may_decide(svc.cipher, incident, member):
        return Result(render("incident.not_allowed", lang))
    reply = render(f"incident.{'false_alarm' if status == IncidentStatus.FALSE_ALARM else 'resolved'}_ack",
                   lang, code=incident.code)
    return Result(incidents.marked(incident, lang, reply),
                  close_incident(svc, session, incident, status, now, actor="", member=member))


def close_incident(svc: Services, session: Session, incident: Incident, status: IncidentStatus, now: datetime,
                   *, actor: str, member: Member | None = None) -> AfterCommit:
    """Close an incident and tell everyone already alerted (also used by the console). A drill
    closes as a drill, however it is ended (RESOLVE, FALSE, the console, its time running out)."""
    after = AfterCommit()
    if incident.drill:
        status = IncidentStatus.DRILL
    said_yes = incidents.answered(session, svc.cipher, incident.id, "yes")  # closing forgets who
    if not incidents.set_status(session, svc.cipher, incident, status, now, actor=actor, member=member):
        return after
    if svc.settings.debrief_hours > 0:
        debriefs.plan(session, svc.cipher, incident.id, said_yes, now + timedelta(hours=svc.settings.debrief_hours),
                      now)
    member_id = member.id if member is not None else None
    incidents.cancel_unsent(session, incident.id, now)
    key = CLOSING_MESSAGES.get(status, "incident.resolved")
    members = (m for m in incidents.alerted_members(session, incident.id) if m.id != member_id)
    after.send_ids.extend(escalation.notify(svc, session, incident, members, key, Purpose.STAND_DOWN, now,
                                            dedupe=f"close-{status.value}"))
    session.flush()
    after.send_ids.extend(afteraction.tell_coordinators(session, svc.cipher, incident, now))
    return after


def relay(svc: Services, session: Session, sender: Member | None, phone: str, incident: Incident, text: str,
          inbound_id: int, now: datetime) -> Result:
    """A free-text reply: into the thread, and on to the coordinators and those on the way."""
    actor = incidents.who(sender, svc.cipher, phone)
    incidents.append(session, svc.cipher, incident.id, "reply", now, actor=incidents.REPORTER, member=sender,
                     body=text)
    recipients = {m.id: m for m in incidents.coordinators(session, svc.cipher) + incidents.responders_who_said_yes(
        session, svc.cipher, incident.id)}
    if sender is not None:
        recipients.pop(sender.id, None)
    after = AfterCommit(send_ids=pass_on(svc, session, incident, list(recipients.values()), actor, text,
                                         f"relay:{inbound_id}", now))
    lang = sender.language if sender else "en"
    return Result(incidents.marked(incident, lang, render("relay.noted", lang, code=incident.code)), after)


def pass_on(svc: Services, session: Session, incident: Incident, recipients: list[Recipient],
            who: str, text: str, dedupe: str, now: datetime) -> list[int]:
    """Text a message about an incident to each recipient, in their language ("[K7] who: text").
    The one path for passing words on: a member's reply by text and a coordinator's message from
    the console. Numbers typed into it (a third party's, the sender's own) are masked in every
    copy: responders never need them, and coordinators can reveal them in the console."""
    texts = [
        outbox.Text(to=outbox.SealedNumber(m.phone_index, m.phone_token),
                    body=incidents.marked(incident, m.language, render(
                        "relay.text", m.language, code=incident.code, who=who.replace("…", "..."),
                        text=mask_phone_numbers(text)[:RELAY_MAX])),
                    purpose=Purpose.RELAY, dedupe_key=f"{dedupe}:{m.id}", member_id=m.id,
                    incident_id=incident.id)
        for m in recipients
    ]
    return outbox.record(session, svc.cipher, texts, now)
