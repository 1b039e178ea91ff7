"""POST /twilio/voice/campaign (a campaign call asks where to connect the member), .../after (the
`<Dial>`'s action: how the bridge ended) and .../leg (the bridged leg's status callbacks). Signed
and refused like /twilio/sms; each parses the form, makes one service call, answers TwiML or 204.
URLs carry only our message id (`?m=42`); Twilio's signature covers it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from flask import Blueprint, Response, abort, request

from rapidresponse.campaigns import calls, twiml
from rapidresponse.db import utcnow
from rapidresponse.i18n import render, say_options
from rapidresponse.incidents.service import AfterCommit
from rapidresponse.jobs.dispatch import dispatch
from rapidresponse.services import Services
from rapidresponse.webhooks.routes import services, twilio_signed
from rapidresponse.webhooks.voice_alerts import _one_id, _sid

bp = Blueprint("campaign_calls", __name__, url_prefix="/twilio/voice/campaign")

FINAL_LEG = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})


def pacing(svc: Services) -> calls.Pacing:
    return calls.Pacing(svc.settings.campaign_calls_per_target, svc.settings.campaign_call_minutes)


def _xml(body: str) -> Response:
    return Response(body, mimetype="application/xml")


def _word(form: Mapping[str, str], name: str) -> str:
    value = form.get(name, "").strip().lower()
    if len(value) > 32 or not value.replace("-", "").isalpha():
        abort(400, f"{name} is not one Twilio sends")
    return value


def _seconds(form: Mapping[str, str], name: str) -> int:
    raw = form.get(name, "").strip() or "0"
    if len(raw) > 7 or not raw.isdigit():
        abort(400, f"{name} is not a number of seconds")
    return int(raw)


def _optional_sid(form: Mapping[str, str], name: str) -> str | None:
    sid = form.get(name, "").strip()
    if not sid:
        return None
    if len(sid) > 64 or not sid.isascii() or not sid.isalnum():
        abort(400, f"{name} is not one Twilio sends")
    return sid


@bp.post("")
@twilio_signed
def bridge() -> Response:
    """The member is on the line: connect them to a target with a free line, or hold."""
    svc = services()
    _sid(request.form)
    message_id = _one_id(request.args.getlist("m"), "m")
    with svc.db.session() as session:
        decided = calls.bridge(session, svc.cipher, message_id, utcnow(), pacing(svc))
    say = say_options(decided.language)
    base = svc.settings.public_base_url
    if decided.target is not None:
        return _xml(twiml.connect(
            decided.target.number, say, caller_id=svc.settings.twilio_from_number,
            action=twiml.after_url(base, message_id), leg_callback=twiml.leg_url(svc.settings.status_base_url,
                                                                                  message_id),
            time_limit=svc.settings.campaign_call_minutes * 60, timeout=calls.DIAL_TIMEOUT))
    if decided.hold:
        sentence = render("campaign_voice.hold", decided.language) if decided.first_hold else None
        return _xml(twiml.hold(sentence, say, twiml.bridge_url(base, message_id), calls.HOLD_SECONDS))
    return _xml(twiml.goodbye(render(decided.say or "campaign_voice.thanks", decided.language), say))


def _over(message_id: int, status: str, seconds: int, dial_sid: str | None) -> calls.Over:
    svc = services()
    with svc.db.session() as session:
        over = calls.bridge_over(session, svc.cipher, message_id, status, seconds, dial_sid, utcnow(),
                                 timedelta(seconds=svc.settings.provider_delete_delay_seconds))
    dispatch(svc, AfterCommit(send_ids=over.send_ids))
    return over


@bp.post("/after")
@twilio_signed
def after() -> Response:
    """The `<Dial>` ended (also when the member hung up during it: the answer is then ignored)."""
    _sid(request.form)
    message_id = _one_id(request.args.getlist("m"), "m")
    over = _over(message_id, _word(request.form, "DialCallStatus"), _seconds(request.form, "DialCallDuration"),
                 _optional_sid(request.form, "DialCallSid"))
    return _xml(twiml.goodbye(render(over.say, over.language), say_options(over.language)))


@bp.post("/leg")
@twilio_signed
def leg() -> tuple[str, int]:
    """The bridged leg's status callbacks: a final one ends the bridge if the action has not."""
    sid = _sid(request.form)
    message_id = _one_id(request.args.getlist("m"), "m")
    status = _word(request.form, "CallStatus")
    if status in FINAL_LEG:
        _over(message_id, status, _seconds(request.form, "CallDuration"), sid)
    return "", 204
