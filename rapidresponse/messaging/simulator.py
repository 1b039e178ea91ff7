"""The built-in simulator provider: 'sends' by storing, so a newcomer can try everything locally.

The /simulator page (simulator/routes.py) shows these rows as a phone would. Like Twilio, it
accepts a text as queued and reports it sent, then delivered: `report` (wired in services.py)
hands `network_reports` to the status inbox exactly as the /twilio/status webhook hands on
Twilio's callbacks, and the same drain job applies them. The console, thread and counts read the
same with or without a Twilio account.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable
from datetime import datetime
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import delete, select

from rapidresponse.db import Database
from rapidresponse.messaging.delivery import StatusUpdate
from rapidresponse.messaging.models import SimulatedMessage
from rapidresponse.messaging.provider import Audio, FoundCall, FoundText, ProviderError, SentText
from rapidresponse.privacy.crypto import FieldCipher

log = logging.getLogger(__name__)


def new_sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def message_id_of(status_callback: str | None) -> int | None:
    """Our id, from the status-callback URL the sender gave (`...?m=42`), as Twilio would post it back."""
    values = parse_qs(urlsplit(status_callback or "").query).get("m", [])
    return int(values[0]) if values and values[0].isdigit() else None


class SimulatorProvider:
    name = "simulator"

    def __init__(self, db: Database, cipher: FieldCipher,
                 report: Callable[[str, int | None], None] | None = None) -> None:
        self._db = db
        self._cipher = cipher
        # Called with (SID, our message id) for each accepted text: the phone network reporting back.
        self.report = report

    def record(self, direction: str, phone: str, body: str, kind: str = "sms", sid: str | None = None) -> str:
        sid = sid or new_sid("SM" if kind == "sms" else "CA")
        with self._db.session() as session:
            session.add(SimulatedMessage(
                sid=sid, direction=direction, kind=kind,
                phone_index=self._cipher.blind_index(phone),
                phone_token=self._cipher.encrypt(phone),
                body_token=self._cipher.encrypt(body),
            ))
        return sid

    def prepare_thread(self) -> None:
        return None

    def send_sms(self, to: str, body: str, *, status_callback: str | None,
                 validity_period: int | None) -> SentText:
        if not to.startswith("+"):
            raise ProviderError("The 'To' number is not a valid phone number", code=21211, http_status=400)
        sid = self.record("out", to, body)
        if self.report is not None and status_callback is not None:
            try:
                self.report(sid, message_id_of(status_callback))
            except Exception:  # noqa: BLE001 - the text was sent; a lost report must not make it look unsent
                log.warning("the simulator could not report text %s delivered", sid)
        return SentText(sid=sid, status="queued")

    def place_call(self, to: str, *, twiml: str, status_callback: str | None) -> str:
        """A call placed is kept with the TwiML it plays and where its statuses go: the /simulator
        page rings, and its phone follows that TwiML (simulator/calls.py)."""
        if not to.startswith("+"):
            raise ProviderError("The 'To' number is not a valid phone number", code=21211, http_status=400)
        call = {"direction": "outbound-api", "state": "ringing", "twiml": twiml, "status_callback": status_callback}
        return self.record("out", to, json.dumps(call), kind="call")

    def save_call(self, sid: str, phone: str, call: dict[str, object]) -> None:
        """Store a simulated call's state (new or moved on), encrypted like every simulated text."""
        body = self._cipher.encrypt(json.dumps(call))
        with self._db.session() as session:
            row = session.scalar(select(SimulatedMessage).where(SimulatedMessage.sid == sid))
            if row is None:
                session.add(SimulatedMessage(sid=sid, direction="in" if call.get("direction") == "inbound" else "out",
                                             kind="call", phone_index=self._cipher.blind_index(phone),
                                             phone_token=self._cipher.encrypt(phone), body_token=body))
            else:
                row.body_token = body

    def calls(self, phone: str, limit: int = 20) -> list[tuple[str, dict[str, object]]]:
        """(SID, state) of the calls to or from one number, newest first."""
        with self._db.session() as session:
            rows = session.scalars(
                select(SimulatedMessage)
                .where(SimulatedMessage.phone_index == self._cipher.blind_index(phone), SimulatedMessage.kind == "call")
                .order_by(SimulatedMessage.id.desc()).limit(limit)
            ).all()
            return [(r.sid, call_state(self._cipher.decrypt(r.body_token))) for r in rows]

    def load_call(self, sid: str) -> tuple[str, dict[str, object]] | None:
        """(phone, state) of one simulated call."""
        with self._db.session() as session:
            row = session.scalar(select(SimulatedMessage).where(SimulatedMessage.sid == sid,
                                                                SimulatedMessage.kind == "call"))
            if row is None:
                return None
            return self._cipher.decrypt(row.phone_token), call_state(self._cipher.decrypt(row.body_token))

    def _sent(self, to: str, since: datetime, kind: str) -> list[SimulatedMessage]:
        with self._db.session() as session:
            rows = session.scalars(
                select(SimulatedMessage).where(
                    SimulatedMessage.phone_index == self._cipher.blind_index(to),
                    SimulatedMessage.direction == "out", SimulatedMessage.kind == kind,
                    SimulatedMessage.created_at >= since,
                )
            ).all()
            for r in rows:
                session.expunge(r)
            return list(rows)

    def find_sent(self, to: str, since: datetime) -> list[FoundText]:
        return [FoundText(sid=r.sid, body=self._cipher.decrypt(r.body_token), created_at=r.created_at)
                for r in self._sent(to, since, "sms")]

    def find_calls(self, to: str, since: datetime) -> list[FoundCall]:
        return [FoundCall(sid=r.sid, created_at=r.created_at) for r in self._sent(to, since, "call")]

    def fetch_recording(self, sid: str) -> Audio:
        """The simulator records no sound: a second of silence stands in for the audio."""
        return Audio(silence(), "audio/x-wav")

    def delete_recording(self, sid: str) -> None:
        """Nothing of a simulated recording is kept but what the app stored; gone at once."""
        return None

    def delete_message(self, sid: str) -> None:
        """The simulator is the provider here: its copy of the text goes, as Twilio's would."""
        with self._db.session() as session:
            found = session.execute(delete(SimulatedMessage).where(SimulatedMessage.sid == sid))
        if not getattr(found, "rowcount", 0):
            raise ProviderError("The requested resource was not found", code=20404, http_status=404)

    def delete_call(self, sid: str) -> None:
        self.delete_message(sid)

    def conversation(self, phone: str, limit: int = 200) -> list[tuple[str, str, str, datetime]]:
        """(direction, kind, body, when) for one number, oldest first."""
        with self._db.session() as session:
            rows = session.scalars(
                select(SimulatedMessage)
                .where(SimulatedMessage.phone_index == self._cipher.blind_index(phone))
                .order_by(SimulatedMessage.id.desc()).limit(limit)
            ).all()
            return [(r.direction, r.kind, self._cipher.decrypt(r.body_token), r.created_at) for r in reversed(rows)]


def call_state(body: str) -> dict[str, object]:
    """A stored call's state; a call stored as bare TwiML (before calls had a state) rings with it."""
    try:
        state = json.loads(body)
    except ValueError:
        state = None
    if not isinstance(state, dict):
        return {"direction": "outbound-api", "state": "ringing", "twiml": body, "status_callback": None}
    return state


def silence(seconds: float = 1.0, rate: int = 8000) -> bytes:
    """A WAV file of silence (8 kHz, 16-bit mono), as a phone line's recording would be shaped."""
    import io
    import wave

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\x00\x00" * int(rate * seconds))
    return buffer.getvalue()


def network_reports(sid: str, message_id: int | None) -> list[StatusUpdate]:
    """What a phone network reports for a text that reached the phone: sent, then delivered."""
    return [StatusUpdate(sid, status, message_id) for status in ("sent", "delivered")]
