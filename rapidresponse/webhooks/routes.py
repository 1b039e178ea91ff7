"""POST /twilio/sms (inbound texts) and POST /twilio/status (delivery status callbacks)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from functools import wraps
from typing import Any

from flask import Blueprint, Response, abort, current_app, request
from redis.exceptions import RedisError
from twilio.twiml.messaging_response import MessagingResponse

from rapidresponse.db import parse_id, utcnow
from rapidresponse.inbound.service import InboundText, receive
from rapidresponse.incidents.service import AfterCommit
from rapidresponse.jobs.dispatch import dispatch, queue_status_drain
from rapidresponse.messaging import delivery
from rapidresponse.messaging.sender import status_callback_url
from rapidresponse.messaging.signature import is_signed, public_urls
from rapidresponse.messaging.status_inbox import StatusInbox
from rapidresponse.services import Services

log = logging.getLogger(__name__)
bp = Blueprint("webhooks", __name__, url_prefix="/twilio")


def services() -> Services:
    svc: Services = current_app.extensions["rapidresponse"]
    return svc


def twilio_signed(view: Callable[..., Any]) -> Callable[..., Any]:
    """Refuse (403) anything not signed by Twilio with our auth token; nothing is stored or sent."""

    @wraps(view)
    def checked(*args: Any, **kwargs: Any) -> Any:
        settings = services().settings
        urls = public_urls(settings, request.path, request.query_string.decode("latin-1"))
        params = request.form.to_dict(flat=True)
        signature = request.headers.get("X-Twilio-Signature")
        if not any(is_signed(settings, url, params, signature) for url in urls):
            log.warning("refused unsigned or forged request to %s", request.path)
            abort(403)
        return view(*args, **kwargs)

    return checked


def twiml(response: MessagingResponse) -> Response:
    return Response(str(response), mimetype="application/xml")


def queue_once_answered(svc: Services, after: AfterCommit, response: Response) -> Response:
    """`response`, with the work its request committed handed to Redis once it is sent (when the
    server closes it): Twilio, and the caller on the line, wait for the answer and not also for
    the queue's round trips. Whatever happens between the two (the process dies, Redis is down),
    nothing is lost: what was committed is in the database, and the sweep queues it from there
    (an incident nobody started, texts recorded and never sent), as after a Redis outage."""

    def queue() -> None:
        try:
            dispatch(svc, after)
        except Exception:  # the answer is gone: nobody is left to tell but the log
            log.exception("queueing the work of an answered webhook failed; the sweep will queue it")

    response.call_on_close(queue)
    return response


@bp.post("/sms")
@twilio_signed
def sms() -> Response:
    form = request.form
    sid, sender = form.get("MessageSid", "").strip(), form.get("From", "").strip()
    # A blank From is not a malformed request: like any unusable number it is ignored (200, no reply).
    if not sid or "From" not in form or "Body" not in form or len(sid) > 64:
        abort(400, "MessageSid, From and Body are required")
    svc = services()
    handled = receive(svc, InboundText(message_sid=sid, from_number=sender, body=form.get("Body", "")), utcnow())
    response = MessagingResponse()
    if handled.reply:
        # `action` is where Twilio sends the reply's status callbacks: its SID, for the delete.
        action = status_callback_url(svc, handled.reply_id) if handled.reply_id is not None else None
        response.message(handled.reply, action=action)
    return queue_once_answered(svc, handled.after, twiml(response))


@bp.post("/status")
@twilio_signed
def status() -> tuple[str, int]:
    """Verified, handed on in one Redis round trip, answered: a job applies callbacks in bulk, so a
    fan-out's thousands of callbacks never hold the workers members' own texts need."""
    hand_on_status(services(), parse_status(request.form, request.args.getlist("m")))
    return "", 204


def hand_on_status(svc: Services, update: delivery.StatusUpdate) -> None:
    """One Redis round trip (texts' and calls' status callbacks alike); a job applies them in bulk."""
    try:
        if StatusInbox.of(svc).push(update):
            queue_status_drain(svc)
    except RedisError as exc:
        # Redis is down: apply it here (slower, but nothing lost, and Twilio gets its answer).
        log.warning("status callback applied in the request: %s", type(exc).__name__)
        after = AfterCommit()
        delivery.apply_statuses(svc, [update], utcnow(), after)
        dispatch(svc, after)


def parse_status(form: Mapping[str, str], m: list[str]) -> delivery.StatusUpdate:
    """The three fields we keep of a status callback, range-checked: anything no real callback
    carries (a huge ?m= or error code, an over-long SID) is a 400, never a 500 from the database."""
    sid, state = form.get("MessageSid", "").strip(), form.get("MessageStatus", "").strip().lower()
    if not sid or not state:
        abort(400, "MessageSid and MessageStatus are required")
    if (len(sid) > 64 or not sid.isascii() or not sid.isalnum()
            or len(state) > 32 or not state.isascii() or not state.replace("_", "").isalpha()):
        abort(400, "MessageSid or MessageStatus is not one Twilio sends")
    message_id = None
    if m:
        message_id = parse_id(m[0]) if len(m) == 1 else None
        if message_id is None:
            abort(400, "m is not a message id of ours")
    error = form.get("ErrorCode", "").strip()
    if error and (len(error) > 6 or not error.isascii() or not error.isdigit()):
        abort(400, "ErrorCode is not a Twilio error code")
    return delivery.StatusUpdate(sid, state, message_id, int(error) if error else None)
