"""POST /twilio/voice: the reporting hotline (the number's "A call comes in" URL) and its steps.

Signed and refused exactly like /twilio/sms. Every answer is TwiML from twilio.twiml.voice_response,
rendered from what the pure step machine (hotline/flow.py) decided. Nothing is kept between steps
but what each action URL's query carries (step, lang and a counter or two; the signature covers
the query) and what the database holds for the CallSid. A step we cannot make sense of starts the
greeting again rather than hanging up: a caller is never dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode

from flask import Blueprint, Response, abort, request
from twilio.twiml.voice_response import VoiceResponse

from rapidresponse.db import parse_id, utcnow
from rapidresponse.hotline import flow
from rapidresponse.hotline import service as hotline
from rapidresponse.i18n import say_options
from rapidresponse.jobs.dispatch import dispatch
from rapidresponse.services import Services
from rapidresponse.webhooks.routes import queue_once_answered, services, twilio_signed

bp = Blueprint("hotline", __name__, url_prefix="/twilio")
PATH = "/twilio/voice"


def step_url(svc: Services, step: flow.Step, language: str, query: Mapping[str, str] | None = None) -> str:
    """An action URL: absolute on PUBLIC_BASE_URL, so the URL Twilio signs is the one we check."""
    params = {"step": step.value, "lang": language, **(query or {})}
    return f"{svc.settings.public_base_url}{PATH}?{urlencode(params)}"


def say(target: VoiceResponse, line: flow.Say) -> None:
    options = say_options(line.language)
    target.say(line.text(), language=options.language, voice=options.voice)


def render(svc: Services, answer: flow.Answer) -> Response:
    response = VoiceResponse()
    if isinstance(answer, flow.Gather):
        action = step_url(svc, answer.step, answer.language, answer.query)
        kwargs: dict[str, object] = {"num_digits": answer.num_digits} if answer.num_digits else {}
        if answer.finish_on_key:
            kwargs["finish_on_key"] = answer.finish_on_key
        gather = response.gather(input="dtmf", action=action, method="POST", timeout=flow.GATHER_SECONDS,
                                 action_on_empty_result=True, **kwargs)
        for line in answer.prompts:
            say(gather, line)
        response.redirect(action, method="POST")  # reached only if the Gather ends without calling its action
    elif isinstance(answer, flow.Record):
        for line in answer.prompts:
            say(response, line)
        action = step_url(svc, flow.Step.RECORDED, answer.language, {"tree": answer.tree, "try": str(answer.attempt)})
        kwargs = {}
        if svc.settings.voice_transcribe and answer.language == "en":
            # Twilio's built-in transcription handles English only (and 2-120 s).
            kwargs = {"transcribe": True, "transcribe_callback": step_url(svc, flow.Step.TRANSCRIPT, answer.language)}
        response.record(action=action, method="POST", max_length=flow.RECORD_SECONDS, finish_on_key="#",
                        play_beep=True, timeout=flow.RECORD_SILENCE_SECONDS, **kwargs)
        # Twilio skips the action when nothing at all was recorded and goes on here instead.
        response.redirect(action, method="POST")
    else:
        for line in answer.prompts:
            say(response, line)
        response.hangup()
    return Response(str(response), mimetype="application/xml")


def _step(raw: str | None) -> flow.Step:
    try:
        return flow.Step((raw or "").strip() or flow.Step.GREETING.value)
    except ValueError:
        return flow.Step.GREETING


def _call_sid() -> str:
    sid = request.form.get("CallSid", "").strip()
    if not sid or len(sid) > 64 or not sid.isascii() or not sid.isalnum():
        abort(400, "CallSid is required")
    return sid


@bp.post("/voice")
@twilio_signed
def voice() -> Response | tuple[str, int]:
    svc = services()
    form, args = request.form, request.args
    step = _step(args.get("step"))
    now = utcnow()
    if step == flow.Step.TRANSCRIPT:
        hotline.on_transcript(svc, form.get("RecordingSid", "").strip()[:64], form.get("TranscriptionText", ""),
                              form.get("TranscriptionStatus", "").strip().lower(), now)
        return "", 204
    call_sid = _call_sid()
    if step == flow.Step.ENDED:
        hotline.call_ended(svc, call_sid, form.get("CallStatus", "").strip().lower(), now)
        return "", 204
    from_raw = form.get("From", "")
    digits = form.get("Digits", "")
    plays = flow.count(args.get("play"), 1)
    menu = hotline.menu(svc)
    # Stored (if new) before anything is said: a step for a call we never saw is stored now. The
    # menu's keys and the recording need nothing of who is calling but the language their URL
    # carries (the recording looks up the reporter itself): one query, not three, on those steps.
    if step in (flow.Step.MENU, flow.Step.RECORDED) and "lang" in args:
        language = flow.language_of(args.get("lang"))
        if step == flow.Step.RECORDED:
            return recorded(svc, call_sid, from_raw, language)
        hotline.store(svc, call_sid, from_raw, now)
        return render(svc, flow.pressed(menu, digits, language, misses=flow.count(args.get("miss")), plays=plays))
    caller = hotline.answer(svc, call_sid, from_raw, now)
    language = flow.language_of(args.get("lang")) if "lang" in args else caller.language
    if step == flow.Step.MENU:
        return render(svc, flow.pressed(menu, digits, language, misses=flow.count(args.get("miss")), plays=plays))
    if step == flow.Step.RECORDED:
        return recorded(svc, call_sid, from_raw, language)
    if caller.is_coordinator and step == flow.Step.COORDINATOR:
        return coordinator(svc, call_sid, from_raw, digits, language, plays)
    if caller.is_coordinator and step == flow.Step.CODE:
        found = hotline.by_keys(svc, digits, now)
        if found is None and digits.strip("#"):
            return render(svc, flow.ask_code(language, unknown=True))
        return render(svc, flow.coordinator_menu(found or hotline.coordinator_target(svc, None, now), language,
                                                 greet=False))
    if caller.is_coordinator:
        return render(svc, flow.coordinator_menu(hotline.coordinator_target(svc, None, now), language))
    return render(svc, flow.menu(menu, language))


def recorded(svc: Services, call_sid: str, from_raw: str, language: str) -> Response:
    form, args = request.form, request.args
    raw_duration = form.get("RecordingDuration", "").strip()
    duration = int(raw_duration) if raw_duration.isdigit() and len(raw_duration) <= 5 else 0
    recording_sid = form.get("RecordingSid", "").strip()
    if len(recording_sid) > 64 or not recording_sid.isalnum() or not recording_sid.isascii():
        recording_sid = ""
    attempt = flow.count(args.get("try"), 1)
    tree = (args.get("tree") or "").strip()[:32]
    outcome = hotline.on_recording(svc, hotline.RecordingDone(
        call_sid=call_sid, from_raw=from_raw, recording_sid=recording_sid, duration=duration,
        digits=form.get("Digits", ""), tree=tree, language=language, attempt=attempt,
    ), utcnow())
    if outcome.what == flow.AfterRecording.REPORT and outcome.code:
        # The code is read back at once; the report's first alerts are queued once it is said.
        return queue_once_answered(svc, outcome.after, render(
            svc, flow.reported(outcome.code, language, someone_alerted=outcome.someone_alerted)))
    dispatch(svc, outcome.after)
    if outcome.what == flow.AfterRecording.AGAIN:
        return render(svc, flow.record(tree or hotline.menu(svc).default_tree, language, attempt=attempt + 1))
    return render(svc, flow.Hangup(()))  # they hung up: Twilio ignores the answer


def coordinator(svc: Services, call_sid: str, from_raw: str, digits: str, language: str, plays: int) -> Response:
    now = utcnow()
    incident_id = parse_id(request.args.get("incident", ""))
    # The incident the menu named, even if closed since (the decision then says so).
    target = hotline.coordinator_target(svc, incident_id, now) if incident_id is not None else None
    choice = flow.coordinator_pressed(digits, target, language, plays=plays)
    if isinstance(choice, flow.Report):
        return render(svc, flow.menu(hotline.menu(svc), choice.language))
    if isinstance(choice, flow.Decide):
        done = hotline.decide(svc, call_sid, from_raw, choice.decision, choice.incident_id, now)
        if done is None:
            return render(svc, flow.menu(hotline.menu(svc), language))
        return queue_once_answered(svc, done.after, render(
            svc, flow.decided(choice.decision, done.changed, done.code, language, closed=done.closed)))
    return render(svc, choice)
