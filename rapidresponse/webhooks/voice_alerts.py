"""POST /twilio/voice/alert (an alert call's Gather action) and POST /twilio/voice/status (its status
callbacks). Signed and refused exactly like /twilio/sms; each parses into a small dataclass and makes
one service call. The action URL carries only our message id and the play number (`?m=42&p=1`)."""

from __future__ import annotations

from collections.abc import Mapping

from flask import Blueprint, Response, abort, request

from rapidresponse.alertcalls import twiml
from rapidresponse.alertcalls.service import Keypress, Reply, on_keypress
from rapidresponse.db import parse_id, utcnow
from rapidresponse.i18n import say_options
from rapidresponse.messaging import delivery
from rapidresponse.messaging.models import DeliveryStatus
from rapidresponse.webhooks.routes import hand_on_status, queue_once_answered, services, twilio_signed

bp = Blueprint("voice_alerts", __name__, url_prefix="/twilio/voice")

# Twilio's call statuses, as the outbox's delivery statuses (which never move backwards): a call
# that rang is "sent", one that was answered and ended is "delivered" (reached only with a keypress).
CALL_STATUSES = {
    "queued": DeliveryStatus.QUEUED, "initiated": DeliveryStatus.QUEUED,
    "ringing": DeliveryStatus.SENT, "in-progress": DeliveryStatus.SENT,
    "completed": DeliveryStatus.DELIVERED,
    "busy": DeliveryStatus.UNDELIVERED, "no-answer": DeliveryStatus.UNDELIVERED,
    "canceled": DeliveryStatus.UNDELIVERED, "failed": DeliveryStatus.FAILED,
}  # fmt: skip


def _sid(form: Mapping[str, str]) -> str:
    sid = form.get("CallSid", "").strip()
    if not sid:
        abort(400, "CallSid is required")
    if len(sid) > 64 or not sid.isascii() or not sid.isalnum():
        abort(400, "CallSid is not one Twilio sends")
    return sid


def _one_id(values: list[str], name: str) -> int:
    found = parse_id(values[0]) if len(values) == 1 else None
    if found is None:
        abort(400, f"{name} is not one of ours")
    return found


def parse_keypress(form: Mapping[str, str], args: Mapping[str, list[str]]) -> Keypress:
    digits = form.get("Digits")
    return Keypress(call_sid=_sid(form), message_id=_one_id(args.get("m", []), "m"),
                    play=min(_one_id(args.get("p", []), "p"), 99),
                    digits=digits.strip()[:8] if digits is not None else None)


def answer(reply: Reply) -> Response:
    say = say_options(reply.language)
    if reply.replay is not None:
        action = twiml.action_url(services().settings.public_base_url, reply.message_id, reply.replay)
        xml = twiml.alert(reply.script, say, action, before=reply.sentences)
    else:
        xml = twiml.spoken(reply.sentences, say)
    return Response(xml, mimetype="application/xml")


@bp.post("/alert")
@twilio_signed
def alert() -> Response:
    """The member pressed a key (or none) during an alert call."""
    svc = services()
    reply = on_keypress(svc, parse_keypress(request.form, request.args.to_dict(flat=False)), utcnow())
    return queue_once_answered(svc, reply.after, answer(reply))


def parse_call_status(form: Mapping[str, str], m: list[str]) -> delivery.StatusUpdate:
    """What we keep of a call's status callback: SID, status, our id, error code, and how it ended
    (`busy`, `no-answer`, ... or `machine` when AnsweredBy says an answering machine took it)."""
    sid = _sid(form)
    state = form.get("CallStatus", "").strip().lower()
    if not state:
        abort(400, "CallStatus is required")
    if len(state) > 32 or not state.isascii() or not state.replace("-", "").isalpha():
        abort(400, "CallStatus is not one Twilio sends")
    message_id = _one_id(m, "m") if m else None
    error = form.get("ErrorCode", "").strip()
    if error and (len(error) > 6 or not error.isascii() or not error.isdigit()):
        abort(400, "ErrorCode is not a Twilio error code")
    answered_by = form.get("AnsweredBy", "").strip().lower()
    ended = "machine" if answered_by.startswith(("machine", "fax")) else state
    mapped = CALL_STATUSES.get(state)
    return delivery.StatusUpdate(sid, mapped.value if mapped else state, message_id, int(error) if error else None,
                                 ended if mapped is not None and mapped.value in delivery.FINAL else "")


@bp.post("/status")
@twilio_signed
def status() -> tuple[str, int]:
    """Handed on like a text's status callback: the same inbox, drain job and never-backwards apply."""
    hand_on_status(services(), parse_call_status(request.form, request.args.getlist("m")))
    return "", 204
