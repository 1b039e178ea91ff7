"""A small TwiML voice interpreter: what a caller hears, and what Twilio asks the application next.

Pure (standard library only): the simulator's phone follows the application's real TwiML with it,
and so does the loopback fake Twilio in bench/ when it plays a call. It knows the verbs the
application uses, with Twilio's defaults:

* ``<Say>`` (text, language, voice, loop) and ``<Play>`` and ``<Pause length>``: heard;
* ``<Gather>`` (numDigits, finishOnKey ``#``, timeout 5 s, action, method POST,
  actionOnEmptyResult false): its nested Say/Play/Pause are heard, then the caller's keys go to its
  action as ``Digits``; with no keys the action is called only if actionOnEmptyResult is true,
  otherwise the verbs after the Gather run;
* ``<Record>`` (action, method, maxLength 3600 s, finishOnKey ``1234567890*#``, timeout 5 s,
  transcribe, transcribeCallback, recordingStatusCallback): a recording of no sound skips the
  action and goes on with the next verb, as Twilio does;
* ``<Redirect>`` (method POST): the next document comes from its URL;
* ``<Dial>`` (action, method POST, callerId, timeLimit 14400 s, timeout 30 s) around one
  ``<Number>`` (statusCallback, statusCallbackMethod POST, statusCallbackEvent "completed"): the
  caller is bridged to that number; when the bridge ends its action is requested with
  DialCallStatus, DialCallSid and DialCallDuration (no action: the verbs after it run);
* ``<Hangup>`` and ``<Reject>`` end the call; so does the end of the document.

Anything else (Enqueue, Conference...) is reported as ``Unsupported`` rather than guessed at.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET  # noqa: S405 - only the application's own TwiML is parsed
from dataclasses import dataclass, field
from urllib.parse import urljoin

GATHER_TIMEOUT = 5
GATHER_FINISH_ON_KEY = "#"
RECORD_MAX_LENGTH = 3600
RECORD_FINISH_ON_KEY = "1234567890*#"
KEYS = frozenset("0123456789*#")


class TwimlError(ValueError):
    """The document is not TwiML a call can follow (not XML, or not a <Response>)."""


@dataclass(frozen=True)
class Heard:
    """Something the caller hears: a spoken line, a played file or a pause."""

    kind: str  # "say", "play" or "pause"
    text: str = ""
    language: str | None = None
    voice: str | None = None
    seconds: int = 0


@dataclass(frozen=True)
class Request:
    """What Twilio asks the application next: a method, a URL and the parameters it adds."""

    url: str
    method: str = "POST"
    params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Gather:
    action: str | None
    method: str
    num_digits: int | None
    finish_on_key: str
    timeout: int
    action_on_empty_result: bool
    heard: tuple[Heard, ...]


@dataclass(frozen=True)
class Record:
    action: str | None
    method: str
    max_length: int
    finish_on_key: str
    timeout: int
    play_beep: bool
    transcribe: bool
    transcribe_callback: str | None
    recording_status_callback: str | None


@dataclass(frozen=True)
class Redirect:
    url: str
    method: str


@dataclass(frozen=True)
class Dial:
    number: str
    action: str | None
    method: str
    caller_id: str | None
    time_limit: int
    timeout: int
    status_callback: str | None  # the bridged leg's status callbacks (on <Number>)
    status_callback_method: str
    status_callback_events: tuple[str, ...]


DIAL_TIME_LIMIT = 14400
DIAL_TIMEOUT = 30


@dataclass(frozen=True)
class Hangup:
    reject: bool = False


@dataclass(frozen=True)
class Unsupported:
    verb: str


Verb = Heard | Gather | Record | Redirect | Dial | Hangup | Unsupported


@dataclass(frozen=True)
class Turn:
    """A stretch of a call: what was heard, then what stops it (None: the document ended, and so
    does the call), and where to go on from if the stop falls through (a Gather with no keys)."""

    heard: tuple[Heard, ...]
    stop: Gather | Record | Redirect | Dial | Hangup | Unsupported | None
    resume_at: int


def _truthy(value: str | None, default: bool = False) -> bool:
    if value is None:
        return default
    return value.strip().lower() == "true"


def _int(value: str | None, default: int | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else default
    except ValueError:
        return default


def _url(value: str | None, base: str | None) -> str | None:
    if not value:
        return base
    return urljoin(base, value) if base else value


def _heard(node: ET.Element) -> list[Heard]:
    tag = node.tag
    if tag == "Say":
        text = " ".join((node.text or "").split())
        loop = _int(node.get("loop"), 1) or 1
        return [Heard("say", text, node.get("language"), node.get("voice"))] * max(1, min(loop, 10))
    if tag == "Play":
        return [Heard("play", (node.text or "").strip())]
    if tag == "Pause":
        return [Heard("pause", seconds=_int(node.get("length"), 1) or 1)]
    return []


def parse(twiml: str, url: str | None = None) -> list[Verb]:
    """The verbs of a TwiML document; relative URLs are resolved against ``url`` (the document's
    own address), which is also the default action of a Gather or Record, as with Twilio."""
    try:
        root = ET.fromstring(twiml)  # noqa: S314 - the application's own TwiML
    except ET.ParseError as exc:
        raise TwimlError(f"not XML: {exc}") from exc
    if root.tag != "Response":
        raise TwimlError(f"the root element is <{root.tag}>, not <Response>")
    verbs: list[Verb] = []
    for node in root:
        tag = node.tag
        if tag in ("Say", "Play", "Pause"):
            verbs.extend(_heard(node))
        elif tag == "Gather":
            inner: list[Heard] = []
            for child in node:
                inner.extend(_heard(child))
            verbs.append(Gather(
                action=_url(node.get("action"), url),
                method=(node.get("method") or "POST").upper(),
                num_digits=_int(node.get("numDigits"), None),
                finish_on_key=node.get("finishOnKey", GATHER_FINISH_ON_KEY),
                timeout=_int(node.get("timeout"), GATHER_TIMEOUT) or GATHER_TIMEOUT,
                action_on_empty_result=_truthy(node.get("actionOnEmptyResult")),
                heard=tuple(inner),
            ))
        elif tag == "Record":
            verbs.append(Record(
                action=_url(node.get("action"), url),
                method=(node.get("method") or "POST").upper(),
                max_length=_int(node.get("maxLength"), RECORD_MAX_LENGTH) or RECORD_MAX_LENGTH,
                finish_on_key=node.get("finishOnKey", RECORD_FINISH_ON_KEY),
                timeout=_int(node.get("timeout"), 5) or 5,
                play_beep=_truthy(node.get("playBeep"), default=True),
                transcribe=_truthy(node.get("transcribe")),
                transcribe_callback=_url(node.get("transcribeCallback"), url) if node.get("transcribeCallback")
                else None,
                recording_status_callback=_url(node.get("recordingStatusCallback"), url)
                if node.get("recordingStatusCallback") else None,
            ))
        elif tag == "Redirect":
            target = _url((node.text or "").strip(), url)
            if target:
                verbs.append(Redirect(target, (node.get("method") or "POST").upper()))
        elif tag == "Dial":
            verbs.append(_dial(node, url))
        elif tag in ("Hangup", "Reject"):
            verbs.append(Hangup(reject=tag == "Reject"))
        else:
            verbs.append(Unsupported(tag))
    return verbs


def _dial(node: ET.Element, url: str | None) -> Dial | Unsupported:
    numbers = node.findall("Number")
    if len(numbers) > 1 or any(child.tag != "Number" for child in node):
        return Unsupported("Dial")  # several numbers, a Client, a Conference...: not what the app uses
    inner = numbers[0] if numbers else None
    number = ((inner.text if inner is not None else node.text) or "").strip()
    callback = inner.get("statusCallback") if inner is not None else None
    events = (inner.get("statusCallbackEvent") if inner is not None else None) or "completed"
    return Dial(
        number=number, action=_url(node.get("action"), url) if node.get("action") else None,
        method=(node.get("method") or "POST").upper(), caller_id=node.get("callerId"),
        time_limit=_int(node.get("timeLimit"), DIAL_TIME_LIMIT) or DIAL_TIME_LIMIT,
        timeout=_int(node.get("timeout"), DIAL_TIMEOUT) or DIAL_TIMEOUT,
        status_callback=_url(callback, url) if callback else None,
        status_callback_method=((inner.get("statusCallbackMethod") if inner is not None else None) or "POST").upper(),
        status_callback_events=tuple(events.replace(",", " ").split()))


def after_dial(dial: Dial, *, status: str, seconds: int, dial_sid: str | None) -> Request | None:
    """The request Twilio makes when a bridge ends (``status``: completed, busy, no-answer, failed,
    canceled); None when the Dial has no action (the verbs after it run)."""
    if dial.action is None:
        return None
    params = {"DialCallStatus": status, "DialCallDuration": str(min(seconds, dial.time_limit))}
    if dial_sid:
        params["DialCallSid"] = dial_sid
    return Request(dial.action, dial.method, params)


def advance(verbs: list[Verb], start: int = 0) -> Turn:
    """Run from ``start`` until a verb needs the caller or the network (or the document ends)."""
    heard: list[Heard] = []
    for i in range(start, len(verbs)):
        verb = verbs[i]
        if isinstance(verb, Heard):
            heard.append(verb)
            continue
        if isinstance(verb, Gather):
            heard.extend(verb.heard)
        return Turn(tuple(heard), verb, i + 1)
    return Turn(tuple(heard), None, len(verbs))


def keys_for(gather: Gather, pressed: str) -> str:
    """The Digits Twilio reports for what the caller pressed: cut at numDigits or at the finish
    key (which is not reported), non-keys ignored."""
    digits = ""
    for key in pressed:
        if key not in KEYS:
            continue
        if gather.finish_on_key and key in gather.finish_on_key:
            break
        digits += key
        if gather.num_digits is not None and len(digits) >= gather.num_digits:
            break
    return digits


def after_gather(gather: Gather, pressed: str | None) -> Request | None:
    """The request Twilio makes when a Gather ends with ``pressed`` (None or "": nothing pressed);
    None means the call goes on with the verbs after the Gather."""
    digits = keys_for(gather, pressed or "")
    if gather.action is None:
        return None
    if digits:
        return Request(gather.action, gather.method, {"Digits": digits})
    if gather.action_on_empty_result:
        return Request(gather.action, gather.method, {})
    return None


def after_record(record: Record, *, seconds: int, recording_sid: str, recording_url: str,
                 ended_by: str | None) -> Request | None:
    """The request Twilio makes when a recording ends: ``ended_by`` is a finish key, "hangup", or
    None (silence or maxLength). No sound at all: no request, the next verb runs."""
    if seconds <= 0 or record.action is None:
        return None
    params = {"RecordingUrl": recording_url, "RecordingSid": recording_sid,
              "RecordingDuration": str(min(seconds, record.max_length))}
    if ended_by:
        params["Digits"] = ended_by
    return Request(record.action, record.method, params)


def spoken(heard: tuple[Heard, ...] | list[Heard]) -> list[str]:
    """The lines said, in order (what a person on the phone would write down)."""
    return [h.text for h in heard if h.kind == "say" and h.text]
