"""Playing calls: the callee of a call placed through the API, and a caller of the application's
own number, each following the application's real TwiML (read with the simulator's interpreter,
rapidresponse/simulator/twiml.py) and making Twilio's signed requests: status callbacks for the
events asked for, Gather and Record actions, Redirects, transcriptions and recording statuses.

What the person on the phone does is a *script*, one item per time the TwiML waits for them:

* a string of keys (``"1"``, ``"9"``, ``"123#"``) for a ``<Gather>``; ``""`` or ``None`` presses nothing;
* ``Speak(seconds, transcript, then)`` for a ``<Record>``: talk for ``seconds`` (0: silence), then
  press ``then`` (``"#"``), hang up (``"hangup"``) or stay silent until it stops (``None``);
* ``HANG_UP``: hang up at that point.

When the script runs out the person stays silent; after ``MAX_REQUESTS`` requests they hang up (an
application that loops forever is a bug the call record shows). A call's fate says whether it is
answered at all: ``human`` (the default), ``voicemail`` (answered by a machine: no key is ever
pressed, and AnsweredBy says so when MachineDetection was asked for), ``hangs-up`` (answered, hangs
up during the first words: nothing more is requested), ``busy``, ``no-answer`` or ``failed``.

A ``<Dial>`` bridges the call to its number, which meets the fate given for it (``script_call`` or
``call_fates``; a human talks ``dial_talk_seconds``, 60 by default): the bridged leg is a call of
its own (direction ``outbound-dial``, from the Dial's callerId), whose status callbacks go where its
``<Number>`` asked, and then the Dial's action hears DialCallStatus, DialCallSid and
DialCallDuration. Calls are played at once unless ``real_seconds_per_second`` is set (a bench of
concurrent bridges): then each second of a bridged call and of a ``<Pause>`` takes that long.
``caller_seconds_per_second`` paces the person on the line instead: each second the call's clock
counts for what they hear (2 s a ``<Say>``), press (1 s) and say into a ``<Record>`` takes that long
in real time, as a real call spaces its requests (a hotline bench at a caller's pace).

In JSON (admin routes) a script is a list of strings and ``{"record": seconds, "transcript": "...",
"then": "#"}`` objects.
"""

from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass
from typing import Any

from bench.fake_twilio.common import API_VERSION
from rapidresponse.simulator import twiml

HANG_UP = "hangup"
FATES = ("human", "voicemail", "hangs-up", "busy", "no-answer", "failed")
DIAL_TALK_SECONDS = 60
MAX_REQUESTS = 40
# Twilio's errors for a webhook that did not answer with TwiML it could follow.
HTTP_RETRIEVAL_FAILURE = 11200
DOCUMENT_PARSE_FAILURE = 12100


@dataclass(frozen=True)
class Speak:
    """The caller speaks into a <Record> for ``seconds``, then ends it as ``then`` says."""

    seconds: int = 5
    transcript: str = ""
    then: str | None = "#"


ScriptItem = str | Speak | None


def script_from_json(items: list[Any] | None) -> list[ScriptItem]:
    out: list[ScriptItem] = []
    for item in items or []:
        if isinstance(item, dict):
            out.append(Speak(int(item.get("record", 5)), str(item.get("transcript", "")), item.get("then", "#")))
        elif item is None or isinstance(item, str):
            out.append(item)
        else:
            raise ValueError(f"a script item is a string of keys or a recording object, not {item!r}")
    return out


class VoiceMixin:
    """The player. State lives on the fake."""

    _lock: threading.RLock
    account_sid: str
    _cb_cond: threading.Condition

    def _init_voice(self, play_calls: bool) -> None:
        self.play_calls = play_calls
        self.call_fates: dict[str, str] = {}  # number -> fate for every call to it
        self._scripts: dict[str, collections.deque[tuple[str, list[ScriptItem]]]] = {}
        self._calls_playing = 0
        self.dial_talk_seconds = DIAL_TALK_SECONDS
        self.real_seconds_per_second = 0.0
        self.caller_seconds_per_second = 0.0

    def _reset_voice(self, config: bool) -> None:
        self._scripts.clear()
        if config:
            self.call_fates = {}
            self.play_calls = self._defaults["play_calls"]
            self.dial_talk_seconds = DIAL_TALK_SECONDS
            self.real_seconds_per_second = 0.0
            self.caller_seconds_per_second = 0.0

    def script_call(self, to: str, script: list[ScriptItem] | tuple[ScriptItem, ...] = (), fate: str = "human") -> None:
        """The next call placed to ``to`` is met with ``fate`` and, if answered, ``script``.
        Scripts queue up: each call to the number takes the next one."""
        if fate not in FATES:
            raise ValueError(f"fate must be one of {', '.join(FATES)}")
        with self._lock:
            self._scripts.setdefault(to, collections.deque()).append((fate, list(script)))

    def wait_for_calls(self, timeout: float = 30.0) -> bool:
        """Block until every call being played has ended (and its callbacks were attempted)."""
        deadline = time.monotonic() + timeout
        with self._cb_cond:
            while self._calls_playing:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cb_cond.wait(left)
        return True

    # -- outbound ------------------------------------------------------------------------------
    def _after_call_created(self, rec: dict[str, Any]) -> Any:
        with self._lock:
            if not self.play_calls:
                return None
            queued = self._scripts.get(rec["to"])
            fate, script = queued.popleft() if queued else (self.call_fates.get(rec["to"], "human"), [])
            rec["fate"] = fate
            self._calls_playing += 1

        def start() -> None:  # after the API answered, as Twilio dials after accepting the call
            threading.Thread(target=self._play_outbound, args=(rec, script), daemon=True,
                             name=f"fake-call-{rec['sid'][-6:]}").start()

        return start

    def _play_outbound(self, rec: dict[str, Any], script: list[ScriptItem]) -> None:
        try:
            self._status(rec, "initiated", "initiated")
            if rec["hangup_requested"]:
                return self._end(rec, "canceled")
            fate = rec["fate"]
            if fate == "failed":
                return self._end(rec, "failed")
            rec["status"] = "ringing"
            self._status(rec, "ringing", "ringing")
            if rec["hangup_requested"]:
                return self._end(rec, "canceled")
            if fate in ("busy", "no-answer"):
                return self._end(rec, fate)
            rec["status"], rec["start_time"] = "in-progress", time.time()
            if rec["machine_detection"]:
                machine = "machine_start" if rec["machine_detection"] == "Enable" else "machine_end_beep"
                rec["answered_by"] = machine if fate == "voicemail" else "human"
            self._status(rec, "answered", "in-progress")
            if rec["twiml"]:
                document, url = rec["twiml"], None
            else:
                got = self._fetch(rec, twiml.Request(rec["url"], rec["method"], {}))
                if got is None:
                    return self._end(rec, "completed")
                document, url = got
            if fate == "hangs-up":
                return self._end(rec, "completed", self._follow(rec, document, url, [], hang_up_at_once=True))
            self._end(rec, "completed", self._follow(rec, document, url, [] if fate == "voicemail" else script))
        finally:
            with self._cb_cond:
                self._calls_playing -= 1
                self._cb_cond.notify_all()

    # -- inbound -------------------------------------------------------------------------------
    def incoming_call(self, from_: str, to: str, url: str, script: list[ScriptItem] | tuple[ScriptItem, ...] = (),
                      *, status_callback: str | None = None, method: str = "POST") -> dict[str, Any]:
        """Someone calls the application's number: Twilio posts to its voice ``url`` (CallStatus
        ringing, Direction inbound), the caller follows ``script``, and when the call is over the
        number's ``status_callback`` (if any) hears that it completed. Returns the call record."""
        rec = self._new_call(to=to, from_=from_, direction="inbound", received_at=time.time(), url=url,
                             method=method.upper(), status_callback=status_callback, fate="human",
                             status="ringing")
        with self._cb_cond:
            self._calls_playing += 1
        try:
            got = self._fetch(rec, twiml.Request(url, method.upper(), {}))
            rec["status"], rec["start_time"] = "in-progress", time.time()
            self._end(rec, "completed", self._follow(rec, got[0], got[1], list(script)) if got else [])
        finally:
            with self._cb_cond:
                self._calls_playing -= 1
                self._cb_cond.notify_all()
        with self._lock:
            return dict(rec)

    # -- following TwiML -----------------------------------------------------------------------
    def _follow(self, rec: dict[str, Any], document: str, url: str | None, script: list[ScriptItem],
                hang_up_at_once: bool = False) -> list[tuple[twiml.Record, dict[str, Any]]]:
        """Follow the call's TwiML until it ends; returns the transcriptions Twilio will post after it."""
        pending: collections.deque[ScriptItem] = collections.deque(script)
        transcriptions: list[tuple[twiml.Record, dict[str, Any]]] = []
        try:
            verbs = twiml.parse(document, url)
        except twiml.TwimlError as exc:
            rec["errors"].append({"code": DOCUMENT_PARSE_FAILURE, "url": url, "detail": str(exc)})
            return transcriptions
        position = 0
        while True:
            turn = twiml.advance(verbs, position)
            rec["said"].extend({"text": h.text, "language": h.language, "voice": h.voice}
                               for h in turn.heard if h.kind == "say")
            rec["heard"].extend(twiml.spoken(turn.heard))
            paused = sum(h.seconds for h in turn.heard if h.kind == "pause")
            clock = rec["seconds"] + paused  # (a pause is real_seconds_per_second's)
            rec["seconds"] += sum(h.seconds if h.kind == "pause" else 2 for h in turn.heard)
            self._pass_time(paused)
            stop = turn.stop
            if hang_up_at_once or rec["hangup_requested"] or stop is None \
                    or isinstance(stop, twiml.Hangup | twiml.Unsupported):
                if not hang_up_at_once:
                    self._pace_caller(rec["seconds"] - clock)  # the last words, then the call ends
                break
            if len(rec["requests"]) >= MAX_REQUESTS:
                rec["errors"].append({"code": None, "url": None, "detail": f"hung up after {MAX_REQUESTS} requests"})
                break
            request: twiml.Request | None
            hung_up = False
            if isinstance(stop, twiml.Redirect):
                request = twiml.Request(stop.url, stop.method, {})
            elif isinstance(stop, twiml.Dial):
                request = self._bridge(rec, stop)
            elif isinstance(stop, twiml.Gather):
                item = pending.popleft() if pending else None
                if item == HANG_UP:
                    break
                keys = item if isinstance(item, str) else None
                request = twiml.after_gather(stop, keys)
                rec["seconds"] += 1 if keys else stop.timeout
                rec["pressed"].append(twiml.keys_for(stop, keys or ""))
            else:  # Record
                item = pending.popleft() if pending else None
                if item == HANG_UP:
                    break
                speak = item if isinstance(item, Speak) else Speak(0, "", None)
                seconds = min(speak.seconds, stop.max_length)
                rec["seconds"] += seconds if seconds else stop.timeout
                recording = self._new_recording(rec["sid"], seconds, speak.transcript) if seconds > 0 else None
                ended_by = speak.then
                if ended_by and ended_by != HANG_UP and ended_by not in stop.finish_on_key:
                    ended_by = None  # a key that does not finish this Record is just noise on it
                hung_up = ended_by == HANG_UP
                if recording is not None:
                    rec["recordings"].append(recording["sid"])
                    if stop.transcribe:
                        transcriptions.append((stop, recording))
                    if stop.recording_status_callback:
                        self._recording_status(rec, stop, recording)
                request = twiml.after_record(stop, seconds=seconds, recording_sid=recording["sid"] if recording else "",
                                             recording_url=self.recording_url(recording["sid"]) if recording else "",
                                             ended_by=ended_by)
                if request is None and hung_up:
                    break
            self._pace_caller(rec["seconds"] - clock)
            if request is None:
                position = turn.resume_at
                continue
            got = self._fetch(rec, request)
            if got is None or hung_up:  # after a hang-up Twilio makes the request and ignores the answer
                break
            try:
                verbs, position = twiml.parse(got[0], got[1]), 0
            except twiml.TwimlError as exc:
                rec["errors"].append({"code": DOCUMENT_PARSE_FAILURE, "url": request.url, "detail": str(exc)})
                break
        return transcriptions

    def _pace_caller(self, seconds: float) -> None:
        if seconds > 0 and self.caller_seconds_per_second > 0:
            self._sleeper(seconds * self.caller_seconds_per_second)

    def _pass_time(self, seconds: float) -> None:
        if seconds > 0 and self.real_seconds_per_second > 0:
            time.sleep(seconds * self.real_seconds_per_second)

    def _bridge(self, rec: dict[str, Any], dial: twiml.Dial) -> twiml.Request | None:
        """Play a <Dial>: the bridged leg rings its number, meets its fate (and talks, if a human
        answers), sends the status callbacks its <Number> asked for; then the Dial's action."""
        with self._lock:
            queued = self._scripts.get(dial.number)
            fate, _ = queued.popleft() if queued else (self.call_fates.get(dial.number, "human"), [])
        leg = self._new_call(
            to=dial.number, from_=dial.caller_id or rec["from_"], direction="outbound-dial", received_at=time.time(),
            status_callback=dial.status_callback, status_callback_method=dial.status_callback_method,
            status_callback_event=list(dial.status_callback_events), fate=fate, parent_call_sid=rec["sid"])
        rec.setdefault("dialled", []).append(leg["sid"])
        self._status(leg, "initiated", "initiated")
        leg["status"] = "ringing"
        self._status(leg, "ringing", "ringing")
        if fate in ("busy", "no-answer", "failed"):
            self._end(leg, fate)
            status = fate
        else:
            leg["status"], leg["start_time"] = "in-progress", time.time()
            self._status(leg, "answered", "in-progress")
            talk = 0 if fate == "hangs-up" else min(self.dial_talk_seconds, dial.time_limit)
            self._pass_time(talk)
            leg["seconds"] = talk
            rec["seconds"] += talk
            self._end(leg, "completed")
            status = "completed"
        return twiml.after_dial(dial, status=status, seconds=leg["duration"] or 0, dial_sid=leg["sid"])

    def _call_params(self, rec: dict[str, Any]) -> dict[str, str]:
        params = {"AccountSid": self.account_sid, "ApiVersion": API_VERSION, "CallSid": rec["sid"],
                  "CallStatus": rec["status"], "Called": rec["to"], "Caller": rec["from_"],
                  "Direction": rec["direction"], "From": rec["from_"], "To": rec["to"]}
        if rec["answered_by"]:
            params["AnsweredBy"] = rec["answered_by"]
        if rec.get("parent_call_sid"):
            params["ParentCallSid"] = rec["parent_call_sid"]
        return params

    def _fetch(self, rec: dict[str, Any], request: twiml.Request) -> tuple[str, str] | None:
        """Ask the application for TwiML; None (and an error on the call, as Twilio logs 11200)
        when it did not answer 200 with a body."""
        params = {**self._call_params(rec), **request.params}
        started = time.perf_counter()
        status, body = self.request_signed(request.url, request.method, params)
        took = time.perf_counter() - started
        rec["requests"].append({"url": request.url, "method": request.method, "params": params, "status": status,
                                "took": took})
        if status != 200 or not body.strip():
            rec["errors"].append({"code": HTTP_RETRIEVAL_FAILURE, "url": request.url, "status": status})
            return None
        return body.decode("utf-8", errors="replace"), request.url

    def _status(self, rec: dict[str, Any], event: str, status: str) -> None:
        url = rec["status_callback"]
        if not url or event not in rec["status_callback_event"]:
            return
        with self._lock:
            rec["sequence"] = rec.get("sequence", -1) + 1
            params = {**self._call_params(rec), "CallStatus": status, "CallbackSource": "call-progress-events",
                      "SequenceNumber": str(rec["sequence"]), "Timestamp": time.strftime(
                          "%a, %d %b %Y %H:%M:%S +0000", time.gmtime())}
            if event == "completed" and rec["duration"] is not None:
                params["CallDuration"] = str(rec["duration"])
                params["Duration"] = str(max(1, -(-rec["duration"] // 60)))
        rec["statuses_sent"].append(status)
        self.request_signed(url, rec["status_callback_method"], params)

    def _end(self, rec: dict[str, Any], final: str,
             transcriptions: list[tuple[twiml.Record, dict[str, Any]]] | None = None) -> None:
        with self._lock:
            if rec["status"] == "canceled":
                final = "canceled"
            rec["end_time"] = time.time()
            # The call is played at once; its duration is what the caller would have spent on it.
            rec["duration"] = rec["seconds"] if rec["start_time"] else 0
            rec["status"] = final
        # Twilio sends the final status when "completed" was asked for (the default).
        self._status(rec, "completed", final)
        for record, recording in transcriptions or []:
            self._transcription(rec, record, recording)

    def _recording_status(self, rec: dict[str, Any], record: twiml.Record, recording: dict[str, Any]) -> None:
        self.request_signed(record.recording_status_callback or "", "POST", {
            "AccountSid": self.account_sid, "CallSid": rec["sid"], "RecordingSid": recording["sid"],
            "RecordingUrl": self.recording_url(recording["sid"]), "RecordingStatus": "completed",
            "RecordingDuration": str(recording["duration"]), "RecordingChannels": "1",
            "RecordingSource": "RecordVerb", "RecordingStartTime": time.strftime(
                "%a, %d %b %Y %H:%M:%S +0000", time.gmtime(recording["created_at"])),
        })

    def _transcription(self, rec: dict[str, Any], record: twiml.Record, recording: dict[str, Any]) -> None:
        """Twilio's built-in transcription: 2 to 120 s of English, posted after the call."""
        if not record.transcribe_callback:
            return
        ok = 2 <= int(recording["duration"]) <= 120
        transcription = self._new_transcription(recording, ok)  # kept at the provider, like the recording
        params = {**self._call_params(rec), "RecordingSid": recording["sid"],
                  "RecordingUrl": self.recording_url(recording["sid"]), "TranscriptionSid": transcription["sid"],
                  "TranscriptionStatus": "completed" if ok else "failed", "TranscriptionType": "fast",
                  "TranscriptionUrl": f"{self.url}/{API_VERSION}/Accounts/{self.account_sid}/Transcriptions"}
        if ok:
            params["TranscriptionText"] = recording["transcript"]
        self.request_signed(record.transcribe_callback, "POST", params)
