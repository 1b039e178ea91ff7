"""A caller on the hotline, as Twilio plays one: signed POSTs to the URLs the TwiML names."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.etree import ElementTree

from tests.conftest import ACCOUNT_SID, FROM_NUMBER, PUBLIC_BASE_URL, signed_post


@dataclass
class Said:
    text: str
    language: str
    voice: str


class Answer:
    """One TwiML answer, read as Twilio reads it."""

    def __init__(self, response: Any) -> None:
        assert response.status_code == 200, (response.status_code, response.data)
        assert response.mimetype == "application/xml"
        self.xml = response.data.decode()
        self.root = ElementTree.fromstring(response.data)

    @property
    def said(self) -> list[Said]:
        return [Said(s.text or "", s.get("language", ""), s.get("voice", "")) for s in self.root.iter("Say")]

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.said)

    @property
    def gather(self) -> ElementTree.Element | None:
        return self.root.find("Gather")

    @property
    def record(self) -> ElementTree.Element | None:
        return self.root.find("Record")

    @property
    def hangs_up(self) -> bool:
        return self.root.find("Hangup") is not None

    @property
    def action(self) -> str:
        """Where Twilio posts next: the Gather's or the Record's action."""
        verb = self.gather if self.gather is not None else self.record
        assert verb is not None, self.xml
        return verb.get("action", "")

    def query(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(urlsplit(self.action).query).items()}


class HotlineCall:
    """One call to the hotline from `number`, step by step."""

    def __init__(self, client: Any, number: str = "+12125550150", sid: str | None = None) -> None:
        self.client, self.number = client, number
        self.sid = sid or "CA" + uuid.uuid4().hex
        self.last: Answer | None = None

    def params(self, **extra: str) -> dict[str, str]:
        return {"CallSid": self.sid, "AccountSid": ACCOUNT_SID, "From": self.number, "To": FROM_NUMBER,
                "CallStatus": "in-progress", "Direction": "inbound", **extra}

    def post(self, url: str, **extra: str) -> Any:
        parts = urlsplit(url)
        assert url.startswith(PUBLIC_BASE_URL) or not parts.netloc, url
        return signed_post(self.client, parts.path, self.params(**extra), query=parts.query)

    def ring(self) -> Answer:
        self.last = Answer(self.post(PUBLIC_BASE_URL + "/twilio/voice", CallStatus="ringing"))
        return self.last

    def press(self, digits: str) -> Answer:
        """Keys at a Gather ("" = the caller pressed nothing and the Gather timed out)."""
        assert self.last is not None and self.last.gather is not None, self.last and self.last.xml
        extra = {"Digits": digits} if digits else {}
        self.last = Answer(self.post(self.last.action, **extra))
        return self.last

    def speak(self, seconds: int, *, hang_up: bool = False, recording_sid: str | None = None) -> Answer:
        """Finish the recording after `seconds` (# pressed, or a hang-up)."""
        assert self.last is not None and self.last.record is not None, self.last and self.last.xml
        self.recording_sid = recording_sid or "RE" + uuid.uuid4().hex
        self.record_action = self.last.action
        self.last = Answer(self.post(self.last.action, RecordingSid=self.recording_sid,
                                     RecordingUrl=f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}"
                                                  f"/Recordings/{self.recording_sid}",
                                     RecordingDuration=str(seconds), Digits="hangup" if hang_up else "#"))
        return self.last

    def repeat_recording_callback(self, seconds: int) -> Answer:
        """Twilio posts the same recording callback again (a retry)."""
        return Answer(self.post(self.record_action, RecordingSid=self.recording_sid,
                                RecordingDuration=str(seconds), Digits="#"))

    def end(self, status: str = "completed") -> Any:
        return self.post(PUBLIC_BASE_URL + "/twilio/voice?step=ended", CallStatus=status)
