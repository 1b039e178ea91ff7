"""GET/POST /simulator: a phone in the browser, for trying JOIN, HELP and REPORT locally, calling
the hotline and answering alert calls."""

from __future__ import annotations

import ipaddress
import logging
from typing import Any
from urllib.parse import urlencode, urlsplit

from flask import Blueprint, Response, abort, current_app, jsonify, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.wrappers import Response as BaseResponse

from rapidresponse.db import utcnow
from rapidresponse.inbound.service import InboundText, receive
from rapidresponse.jobs.dispatch import dispatch
from rapidresponse.members.phones import InvalidNumberError, normalize_phone
from rapidresponse.messaging.simulator import SimulatorProvider, new_sid
from rapidresponse.services import Services
from rapidresponse.simulator import calls as sim_calls
from rapidresponse.simulator import twiml

log = logging.getLogger(__name__)

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
    phone_calls = [] if error else [_call(sid, number, state) for sid, state in provider.calls(number)]
    current = next((c for c in phone_calls if c.state != sim_calls.ENDED), phone_calls[0] if phone_calls else None)
    return render_template("simulator/phone.html", phone=number, error=error, typed=typed, body_error=body_error,
                           messages=[] if error else provider.conversation(number), call=current,
                           calls=phone_calls, keypad="123456789*0#")


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


# -- calls --------------------------------------------------------------------------------------
# The phone follows the application's real TwiML (simulator/calls.py + twiml.py); each request
# Twilio would make goes to the application's own webhook view, in process. There is no Twilio
# auth token to sign with in simulator mode, so the view is called past its signature check
# (the loopback-only rule above is what guards this page).
HOTLINE_PATH = "/twilio/voice"
HOTLINE_ENDED = "/twilio/voice?step=ended"


def _number(svc: Services) -> str:
    return svc.settings.twilio_from_number or "+12125550000"


def _account(svc: Services) -> str:
    return svc.settings.twilio_account_sid or "AC" + "0" * 32


def _call(sid: str, phone: str, state: dict[str, Any]) -> sim_calls.Call:
    svc, _ = _services()
    defaults = {"sid": sid, "phone": phone, "number": _number(svc), "account_sid": _account(svc)}
    return sim_calls.Call.from_dict({**state, **defaults})


def webhook(req: twiml.Request) -> BaseResponse | None:
    """Run one of the application's /twilio/ webhooks in process, as Twilio would have called it."""
    svc, _ = _services()
    base = urlsplit(svc.settings.public_base_url)
    target = urlsplit(req.url)
    prefix = base.path.rstrip("/")
    if (target.scheme, target.netloc) != (base.scheme, base.netloc) or not target.path.startswith(prefix + "/twilio/"):
        log.warning("the simulated call was sent to an address that is not this application's")
        return None
    path = target.path[len(prefix):]
    try:
        endpoint, values = current_app.url_map.bind("simulator.invalid").match(path, method=req.method)
    except HTTPException:
        return None
    view = getattr(current_app.view_functions[endpoint], "__wrapped__", None)
    if view is None:  # only Twilio's signed webhooks are reached this way
        return None
    form = req.params if req.method == "POST" else None
    query = target.query if form is not None else "&".join(filter(None, [target.query, urlencode(req.params)]))
    with current_app.test_request_context(path, method=req.method, query_string=query, data=form):
        try:
            return current_app.make_response(view(**values))
        except HTTPException as exc:
            return exc.get_response()


def _fetch(req: twiml.Request) -> str | None:
    try:
        response = webhook(req)
    except Exception:  # noqa: BLE001 - Twilio would say "an application error has occurred" and hang up
        log.exception("a webhook failed during a simulated call")
        return None
    if response is None:
        return None
    try:
        return response.get_data(as_text=True) if response.status_code == 200 else None
    finally:
        response.close()  # as a server does once it is sent: the work it queues is queued then


def _notify(req: twiml.Request) -> None:
    _fetch(req)  # a status or transcription callback: Twilio ignores the answer


@bp.post("/calls")
def call_hotline() -> BaseResponse:
    """The phone calls the application's number."""
    number, error = _phone(request.form.get("phone"))
    if error:
        return redirect(url_for("simulator.phone", phone=request.form.get("phone", "")))
    svc, provider = _services()
    call = _call(sim_calls.new_call_sid(), number, {"direction": "inbound"})
    call.status_callback = svc.settings.public_base_url + HOTLINE_ENDED
    provider.save_call(call.sid, number, call.to_dict())  # kept before anything is asked of the app
    sim_calls.dial_hotline(call, svc.settings.public_base_url + HOTLINE_PATH, _fetch, _notify)
    provider.save_call(call.sid, number, call.to_dict())
    return redirect(url_for("simulator.phone", phone=number, _anchor="call"))


@bp.post("/calls/<sid>")
def act_on_call(sid: str) -> BaseResponse:
    """Answer, decline, press keys, speak into a recording or hang up."""
    _, provider = _services()
    found = provider.load_call(sid)
    if found is None:
        raise NotFound("There is no such simulated call.")
    number, state = found
    call = _call(sid, number, state)
    action = request.form.get("action", "")
    if action == "answer":
        sim_calls.answer(call, _fetch, _notify)
    elif action == "voicemail":
        sim_calls.answer(call, _fetch, _notify, machine=True)
    elif action == "decline":
        sim_calls.decline(call, _notify, "busy")
    elif action == "ignore":
        sim_calls.decline(call, _notify, "no-answer")
    elif action == "press":
        # A keypad button and the typed keys arrive as one field each: the keys are all of them.
        sim_calls.press(call, "".join(request.form.getlist("keys"))[:32], _fetch, _notify)
    elif action in ("record", "record-hangup"):
        said = request.form.get("said", "")[:2000]
        sim_calls.speak(call, said, _seconds(request.form.get("seconds"), said), _fetch, _notify,
                        hang_up=action == "record-hangup")
    elif action == "hangup":
        sim_calls.hang_up(call, _notify)
    else:
        abort(400, description="Unknown call action.")
    provider.save_call(sid, number, call.to_dict())
    return redirect(url_for("simulator.phone", phone=number, _anchor="call"))


def _seconds(raw: str | None, said: str) -> int:
    """How long the caller spoke: as typed, else about as long as the words take to say."""
    if raw and raw.strip().isdigit():
        return min(int(raw.strip()), 600)
    return max(3, len(said.split()) // 2) if said.strip() else 0


@bp.get("/calls")
def calls_json() -> Response:
    number, _ = _phone(request.args.get("phone"))
    _, provider = _services()
    return jsonify([{"sid": sid, "state": state.get("state"), "waiting": state.get("waiting"),
                     "heard": _count(state.get("heard"))} for sid, state in provider.calls(number)])


def _count(lines: object) -> int:
    """How many lines a call has spoken so far (a list in the stored call state)."""
    return len(lines) if isinstance(lines, list) else 0
