"""Simulated calls: the browser's phone following the application's real TwiML, step by step.

A call is a small record (kept by the simulator provider, encrypted like every simulated text):
where it stands in its current TwiML document, what the caller heard, and what it waits for.
Each thing the person on the page does (answer, press keys, say something into a recording, hang
up) moves it on with the interpreter in twiml.py, making the requests Twilio would make through
``fetch`` (the application's own webhooks) and ``notify`` (status and transcription callbacks,
whose answers Twilio ignores). Nothing here knows Flask: routes.py hands those two in.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from rapidresponse.simulator import twiml

Fetch = Callable[[twiml.Request], "str | None"]  # TwiML, or None: the application did not answer with it
Notify = Callable[[twiml.Request], None]

RINGING, LIVE, ENDED = "ringing", "live", "ended"
KEYS, RECORD = "keys", "record"
# Requests one action may make before the phone gives up (an application that redirects forever).
MAX_STEPS = 20
APPLICATION_ERROR = "(An application error has occurred. Goodbye.)"


def new_call_sid() -> str:
    return "CA" + secrets.token_hex(16)


@dataclass
class Call:
    sid: str
    direction: str  # "inbound": someone calling the hotline; "outbound-api": an alert call to the phone
    phone: str  # the simulated phone's number
    number: str  # the application's number
    account_sid: str
    state: str = RINGING
    twiml: str = ""
    url: str | None = None
    position: int = 0
    waiting: str | None = None
    heard: list[str] = field(default_factory=list)
    pressed: list[str] = field(default_factory=list)
    status_callback: str | None = None
    outcome: str | None = None
    answered_by: str | None = None
    seconds: int = 0
    transcriptions: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Call:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    @property
    def caller(self) -> str:
        return self.phone if self.direction == "inbound" else self.number

    @property
    def callee(self) -> str:
        return self.number if self.direction == "inbound" else self.phone

    def params(self, status: str | None = None) -> dict[str, str]:
        """What Twilio adds to every request about this call."""
        params = {"AccountSid": self.account_sid, "ApiVersion": "2010-04-01", "CallSid": self.sid,
                  "CallStatus": status or ("in-progress" if self.state == LIVE else self.state),
                  "Called": self.callee, "Caller": self.caller, "Direction": self.direction,
                  "From": self.caller, "To": self.callee}
        if self.answered_by:
            params["AnsweredBy"] = self.answered_by
        return params


def _with_call(call: Call, request: twiml.Request, status: str | None = None) -> twiml.Request:
    return twiml.Request(request.url, request.method, {**call.params(status), **request.params})


def dial_hotline(call: Call, voice_url: str, fetch: Fetch, notify: Notify) -> Call:
    """The phone calls the application's number: Twilio posts CallStatus ringing to its voice URL."""
    call.state = RINGING
    _run(call, fetch, notify, twiml.Request(voice_url, "POST", {}), answer_status="ringing")
    return call


def incoming(sid: str, phone: str, number: str, account_sid: str, document: str,
             status_callback: str | None) -> Call:
    """A call the application placed to the phone (inline TwiML), ringing until someone acts."""
    return Call(sid=sid, direction="outbound-api", phone=phone, number=number, account_sid=account_sid,
                twiml=document, status_callback=status_callback)


def answer(call: Call, fetch: Fetch, notify: Notify, *, machine: bool = False) -> Call:
    """Pick up a ringing alert call (or let voicemail take it: then no key is ever pressed)."""
    if call.state != RINGING or call.direction != "outbound-api":
        return call
    call.state = LIVE
    call.answered_by = "machine_start" if machine else None
    _status(call, notify, "in-progress")
    _run(call, fetch, notify, None)
    if machine:
        for _ in range(MAX_STEPS):
            if call.state != LIVE:
                break
            if call.waiting == KEYS:
                press(call, "", fetch, notify)
            else:
                speak(call, "", 0, fetch, notify, hang_up=False)
        if call.state == LIVE:
            hang_up(call, notify)
    return call


def decline(call: Call, notify: Notify, outcome: str = "busy") -> Call:
    """A ringing call not taken: busy (declined) or no-answer (left to ring)."""
    if call.state == RINGING:
        _end(call, notify, outcome)
    return call


def press(call: Call, keys: str, fetch: Fetch, notify: Notify) -> Call:
    """Keys pressed while a <Gather> waits ("" when the caller lets it time out)."""
    stop, resume_at = _current(call)
    if not isinstance(stop, twiml.Gather):
        return call
    call.pressed.append(twiml.keys_for(stop, keys))
    call.seconds += 1 if keys else stop.timeout
    request = twiml.after_gather(stop, keys)
    if request is None:
        _run(call, fetch, notify, None, position=resume_at)
    else:
        _run(call, fetch, notify, request)
    return call


def speak(call: Call, said: str, seconds: int, fetch: Fetch, notify: Notify, *, hang_up: bool) -> Call:
    """Words said into a <Record> (the text stands in for the audio), ended with the finish key,
    or by hanging up, which Twilio still reports (and then ignores the answer)."""
    stop, resume_at = _current(call)
    if not isinstance(stop, twiml.Record):
        return call
    seconds = max(0, min(seconds, stop.max_length)) if said.strip() else 0
    call.seconds += seconds or stop.timeout
    sid = "RE" + secrets.token_hex(16)
    ended_by = "hangup" if hang_up else ("#" if "#" in stop.finish_on_key else None)
    request = twiml.after_record(stop, seconds=seconds, recording_sid=sid,
                                 recording_url=f"https://api.twilio.com/2010-04-01/Accounts/{call.account_sid}"
                                               f"/Recordings/{sid}", ended_by=ended_by)
    if seconds and stop.transcribe and stop.transcribe_callback:
        ok = 2 <= seconds <= 120
        params = {"RecordingSid": sid, "TranscriptionStatus": "completed" if ok else "failed",
                  "TranscriptionSid": "TR" + secrets.token_hex(16)}
        if ok:
            params["TranscriptionText"] = said.strip()
        call.transcriptions.append({"url": stop.transcribe_callback, "params": params})
    if hang_up:
        if request is not None:
            fetch(_with_call(call, request))
        _end(call, notify, "completed")
    elif request is None:
        _run(call, fetch, notify, None, position=resume_at)
    else:
        _run(call, fetch, notify, request)
    return call


def hang_up(call: Call, notify: Notify) -> Call:
    if call.state == RINGING:
        return decline(call, notify, "busy" if call.direction == "outbound-api" else "canceled")
    if call.state == LIVE:
        _end(call, notify, "completed")
    return call


def _current(call: Call) -> tuple[twiml.Verb | None, int]:
    if call.state != LIVE:
        return None, 0
    try:
        turn = twiml.advance(twiml.parse(call.twiml, call.url), call.position)
    except twiml.TwimlError:
        return None, 0
    return turn.stop, turn.resume_at


def _run(call: Call, fetch: Fetch, notify: Notify, request: twiml.Request | None, *, position: int = 0,
         answer_status: str | None = None) -> None:
    """Follow the call until it waits for the person on the phone, or ends."""
    call.waiting = None
    for _ in range(MAX_STEPS):
        if request is not None:
            document = fetch(_with_call(call, request, answer_status))
            answer_status = None
            if document is None:
                call.heard.append(APPLICATION_ERROR)
                _end(call, notify, "completed")
                return
            call.twiml, call.url, position = document, request.url, 0
            request = None
        if call.state == RINGING and call.direction == "inbound":
            call.state = LIVE  # the application answered with TwiML: the call is connected
        try:
            turn = twiml.advance(twiml.parse(call.twiml, call.url), position)
        except twiml.TwimlError:
            call.heard.append(APPLICATION_ERROR)
            _end(call, notify, "completed")
            return
        call.heard.extend(twiml.spoken(turn.heard))
        call.seconds += sum(h.seconds if h.kind == "pause" else 2 for h in turn.heard)
        stop = turn.stop
        if isinstance(stop, twiml.Gather | twiml.Record):
            call.position = position
            call.waiting = KEYS if isinstance(stop, twiml.Gather) else RECORD
            return
        if isinstance(stop, twiml.Redirect):
            request = twiml.Request(stop.url, stop.method, {})
            continue
        if isinstance(stop, twiml.Dial):
            # A bridge (a campaign call): the simulator has no second phone; it "talks" a minute.
            call.heard.append(f"(connected to {stop.number} for a minute)")
            call.seconds += 60
            request = twiml.after_dial(stop, status="completed", seconds=60, dial_sid=None)
            if request is not None:
                continue
            position = turn.resume_at
            continue
        break  # Hangup, a verb the phone does not follow, or the end of the document
    _end(call, notify, "completed")


def _status(call: Call, notify: Notify, status: str) -> None:
    if call.status_callback:
        params = {**call.params(status), "CallbackSource": "call-progress-events"}
        if status in ("completed", "busy", "no-answer", "failed", "canceled"):
            params["CallDuration"] = str(call.seconds)
        notify(twiml.Request(call.status_callback, "POST", params))


def _end(call: Call, notify: Notify, outcome: str) -> None:
    call.state, call.outcome, call.waiting = ENDED, outcome, None
    _status(call, notify, outcome)
    for transcription in call.transcriptions:
        notify(twiml.Request(transcription["url"], "POST", {**call.params("completed"), **transcription["params"]}))
    call.transcriptions = []
