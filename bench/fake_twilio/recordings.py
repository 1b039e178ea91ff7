"""The Recordings resource: what a ``<Record>`` left at the provider. Its media (``GET
.../Recordings/RE...`` or ``.wav``) needs the account's credentials, as with Twilio's "enforce HTTP
auth on media URLs"; its metadata is ``.json``; ``DELETE .../Recordings/RE....json`` removes both
(204, 404 when already gone). The audio is silence of the recorded length (8 kHz, 8-bit WAV): the
fake has no voice and no MP3 encoder, so ``.mp3`` is not served.

Transcriptions (Twilio's built-in, from ``<Record transcribe>``) are a resource of their own, as at
Twilio: listed under their recording (``GET .../Recordings/RE.../Transcriptions.json``), fetched
and deleted at ``.../Transcriptions/TR....json`` (or under the recording). Deleting a recording
leaves its transcriptions here: Twilio documents no such cascade, so the application must delete
them itself."""

from __future__ import annotations

import io
import re
import threading
import time
import wave
from typing import Any

from bench.fake_twilio.common import API_VERSION, Answer, new_sid, not_found, rfc2822

_RECORDING_RE = re.compile(r"^Recordings/(?P<sid>RE[0-9a-fA-F]{32})(?P<ext>\.json|\.wav)?$")
_RECORDING_TRANSCRIPTIONS_RE = re.compile(r"^Recordings/(?P<sid>RE[0-9a-fA-F]{32})/Transcriptions\.json$")
_TRANSCRIPTION_RE = re.compile(
    r"^(?:Recordings/(?P<recording>RE[0-9a-fA-F]{32})/)?Transcriptions/(?P<sid>TR[0-9a-fA-F]{32})(?P<ext>\.json|\.txt)?$")


def silence_wav(seconds: int) -> bytes:
    """A WAV file of ``seconds`` of silence, as small as a real one can be (8 kHz, 8-bit, mono)."""
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(1)
        w.setframerate(8000)
        w.writeframes(b"\x80" * (8000 * max(0, seconds)))
    return out.getvalue()


class RecordingsMixin:
    """Recordings held at the fake. State lives on the fake."""

    _lock: threading.RLock
    account_sid: str
    url: str

    def _init_recordings(self) -> None:
        self._recordings: dict[str, dict[str, Any]] = {}
        self._recording_deletes: list[dict[str, Any]] = []
        self.media_fetches: list[dict[str, Any]] = []
        self._transcriptions: dict[str, dict[str, Any]] = {}
        self._transcription_deletes: list[dict[str, Any]] = []

    def _reset_recordings(self) -> None:
        self._recordings.clear()
        self._recording_deletes.clear()
        self.media_fetches.clear()
        self._transcriptions.clear()
        self._transcription_deletes.clear()

    @property
    def transcriptions(self) -> list[dict[str, Any]]:
        """Every transcription still held (copies), oldest first."""
        with self._lock:
            return [dict(t) for t in self._transcriptions.values()]

    @property
    def transcription_deletes(self) -> list[dict[str, Any]]:
        """Every DELETE of a transcription, in order: ``{"sid", "status" (HTTP), "at"}``."""
        with self._lock:
            return [dict(d) for d in self._transcription_deletes]

    def _new_transcription(self, recording: dict[str, Any], ok: bool) -> dict[str, Any]:
        """What Twilio's built-in transcription leaves: the text (when it worked) and its metadata."""
        now = time.time()
        rec = {"sid": new_sid("TR"), "recording_sid": recording["sid"], "duration": recording["duration"],
               "status": "completed" if ok else "failed", "text": recording["transcript"] if ok else None,
               "created_at": now}
        with self._lock:
            self._transcriptions[rec["sid"]] = rec
        return rec

    @property
    def recordings(self) -> list[dict[str, Any]]:
        """Every recording still held (copies), oldest first."""
        with self._lock:
            return [dict(r) for r in self._recordings.values()]

    @property
    def recording_deletes(self) -> list[dict[str, Any]]:
        """Every DELETE of a recording, in order: ``{"sid", "status" (HTTP), "at"}``."""
        with self._lock:
            return [dict(d) for d in self._recording_deletes]

    def recording_url(self, sid: str) -> str:
        """The RecordingUrl Twilio posts: the media, without an extension."""
        return f"{self.url}/{API_VERSION}/Accounts/{self.account_sid}/Recordings/{sid}"

    def _new_recording(self, call_sid: str, seconds: int, transcript: str) -> dict[str, Any]:
        now = time.time()
        rec = {"sid": new_sid("RE"), "call_sid": call_sid, "duration": seconds, "transcript": transcript,
               "created_at": now, "status": "completed", "source": "RecordVerb"}
        with self._lock:
            self._recordings[rec["sid"]] = rec
        return rec

    def _recordings_api(self, method: str, rest: str, path: str, form: dict[str, str],
                        args: dict[str, str], received_at: float, multi: dict[str, list[str]]) -> Answer | None:
        if (m := _RECORDING_RE.match(rest)) is None:
            return self._transcriptions_api(method, rest, path)
        self._sleep()
        sid, ext = m["sid"], m["ext"] or ""
        with self._lock:
            rec = self._recordings.get(sid)
            if method == "DELETE" and ext == ".json":
                answer: Answer = not_found(path) if rec is None else (204, None, None, None)
                self._recordings.pop(sid, None)
                self._recording_deletes.append({"sid": sid, "status": answer[0], "at": time.time()})
                return answer
            if method != "GET" or rec is None:
                return not_found(path)
            if ext == ".json":
                return 200, self._recording_resource(rec), None, None
            self.media_fetches.append({"sid": sid, "at": time.time()})
            seconds = int(rec["duration"])
        return 200, silence_wav(seconds), {"Content-Type": "audio/x-wav"}, None

    def _recording_resource(self, rec: dict[str, Any]) -> dict[str, Any]:
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Recordings/{rec['sid']}.json"
        return {
            "account_sid": self.account_sid, "api_version": API_VERSION, "call_sid": rec["call_sid"],
            "channels": 1, "conference_sid": None, "date_created": rfc2822(rec["created_at"]),
            "date_updated": rfc2822(rec["created_at"]), "duration": str(rec["duration"]), "error_code": None,
            "media_url": self.recording_url(rec["sid"]), "price": None, "price_unit": "USD",
            "sid": rec["sid"], "source": rec["source"], "start_time": rfc2822(rec["created_at"]),
            "status": rec["status"], "uri": uri,
        }

    def _transcriptions_api(self, method: str, rest: str, path: str) -> Answer | None:
        if (listed := _RECORDING_TRANSCRIPTIONS_RE.match(rest)) is not None:
            self._sleep()
            if method != "GET":
                return not_found(path)
            with self._lock:
                found = [self._transcription_resource(t) for t in self._transcriptions.values()
                         if t["recording_sid"] == listed["sid"]]
            uri = f"/{API_VERSION}/Accounts/{self.account_sid}/{rest}"
            return 200, {"transcriptions": found, "first_page_uri": uri, "next_page_uri": None,
                         "previous_page_uri": None, "page": 0, "page_size": 50, "start": 0,
                         "end": max(0, len(found) - 1), "uri": uri}, None, None
        if (m := _TRANSCRIPTION_RE.match(rest)) is None:
            return None
        self._sleep()
        with self._lock:
            rec = self._transcriptions.get(m["sid"])
            if rec is not None and m["recording"] and rec["recording_sid"] != m["recording"]:
                rec = None
            if method == "DELETE" and (m["ext"] or "") == ".json":
                answer: Answer = not_found(path) if rec is None else (204, None, None, None)
                if rec is not None:
                    self._transcriptions.pop(m["sid"], None)
                self._transcription_deletes.append({"sid": m["sid"], "status": answer[0], "at": time.time()})
                return answer
            if method != "GET" or rec is None:
                return not_found(path)
            if m["ext"] == ".txt":
                return 200, (rec["text"] or "").encode(), {"Content-Type": "text/plain"}, None
            return 200, self._transcription_resource(rec), None, None

    def _transcription_resource(self, rec: dict[str, Any]) -> dict[str, Any]:
        return {
            "account_sid": self.account_sid, "api_version": API_VERSION, "date_created": rfc2822(rec["created_at"]),
            "date_updated": rfc2822(rec["created_at"]), "duration": str(rec["duration"]), "price": None,
            "price_unit": "USD", "recording_sid": rec["recording_sid"], "sid": rec["sid"], "status": rec["status"],
            "transcription_text": rec["text"], "type": "fast",
            "uri": f"/{API_VERSION}/Accounts/{self.account_sid}/Transcriptions/{rec['sid']}.json",
        }
