"""GET/POST /simulator: a phone in the browser, for trying JOIN, HELP and REPORT locally."""

from __future__ import annotations

import ipaddress

from flask import Blueprint, Response, abort, current_app, jsonify, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from rapidresponse.db import utcnow
from rapidresponse.inbound.service import InboundText, receive
from rapidresponse.jobs.dispatch import dispatch
from rapidresponse.members.phones import InvalidNumberError, normalize_phone
from rapidresponse.messaging.simulator import SimulatorProvider, new_sid
from rapidresponse.services import Services

bp = Blueprint("simulator", __name__, url_prefix="/simulator", template_folder="templates")
DEFAULT_PHONE = "+12125550100"


def _services() -> tuple[Services, SimulatorProvider]:
    svc: Services = current_app.extensions["rapidresponse"]
    assert isinstance(svc.provider, SimulatorProvider)
    return svc, svc.provider


@bp.before_request
def loopback_only() -> None:
    """The simulator is a phone with no sign-in: it answers this machine only, unless
    SIMULATOR_ALLOW_REMOTE is set (say, a demo on a trusted network)."""
    svc, _ = _services()
    if svc.settings.simulator_allow_remote:
        return
    try:
        local = ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        local = False
    if not local:
        abort(403, description="The simulator answers only on this machine (set SIMULATOR_ALLOW_REMOTE=true "
                               "to open it to the network).")


def _phone(raw: str | None) -> tuple[str, str | None]:
    svc, _ = _services()
    try:
        return normalize_phone(raw or DEFAULT_PHONE, svc.settings.default_region), None
    except InvalidNumberError as exc:
        return DEFAULT_PHONE, f"That number can't be used: {exc}."


def _page(number: str, error: str | None, typed: str | None = None, body_error: str | None = None) -> str:
    _, provider = _services()
    return render_template("simulator/phone.html", phone=number, error=error, typed=typed, body_error=body_error,
                           messages=[] if error else provider.conversation(number))


@bp.get("")
def phone() -> str:
    number, error = _phone(request.args.get("phone"))
    return _page(number, error, typed=request.args.get("phone"))


@bp.get("/messages")
def messages() -> Response:
    number, _ = _phone(request.args.get("phone"))
    _, provider = _services()
    return jsonify([{"direction": d, "kind": k, "body": b, "at": at.isoformat()}
                    for d, k, b, at in provider.conversation(number)])


@bp.post("")
def send() -> BaseResponse:
    number, error = _phone(request.form.get("phone"))
    if error:
        return redirect(url_for("simulator.phone", phone=request.form.get("phone", "")))
    body = request.form.get("body", "")[:1600]
    if not body.strip():
        # A phone does not send an empty text, and neither does this one.
        return Response(_page(number, None, body_error="Type a message first: an empty text is not sent."),
                        status=422)
    svc, provider = _services()
    sid = new_sid("SM")
    provider.record("in", number, body, sid=sid)
    handled = receive(svc, InboundText(message_sid=sid, from_number=number, body=body), utcnow())
    if handled.reply:
        provider.record("out", number, handled.reply)  # what the TwiML answer would have sent
    dispatch(svc, handled.after)
    return redirect(url_for("simulator.phone", phone=number))
