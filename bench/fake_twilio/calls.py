"""The Calls resource: calls placed through the API, recorded for inspection."""

from __future__ import annotations

import re
import threading
import time
from typing import Any

from bench.fake_twilio.common import API_VERSION, Answer, new_sid, not_found, rfc2822, twilio_error

_CALL_ONE_RE = re.compile(r"^Calls/(?P<sid>[^/]+)\.json$")


class CallsMixin:
    """Everything about calls. State lives on the fake."""

    _lock: threading.RLock
    account_sid: str
    _fail_numbers: dict[str, int]

    def _init_calls(self) -> None:
        self._calls: list[dict[str, Any]] = []
        self._calls_by_sid: dict[str, dict[str, Any]] = {}

    def _reset_calls(self) -> None:
        self._calls.clear()
        self._calls_by_sid.clear()

    @property
    def calls(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(c) for c in self._calls]

    def _calls_api(self, method: str, rest: str, path: str, form: dict[str, str],
                   args: dict[str, str], received_at: float) -> Answer | None:
        """The answer to a request under ``Calls``, or None when it is not one."""
        if rest == "Calls.json" and method == "POST":
            return self._create_call(form, received_at)
        if (mc := _CALL_ONE_RE.match(rest)) is not None and method == "GET":
            self._sleep()
            with self._lock:
                call = self._calls_by_sid.get(mc["sid"])
                payload = self._call_resource(call) if call else None
            if payload is None:
                return not_found(path)
            return 200, payload, None, None
        return None

    def _create_call(self, form: dict[str, str], received_at: float) -> Answer:
        self._sleep()
        to, from_ = form.get("To", "").strip(), form.get("From", "").strip()
        if not to:
            return 400, twilio_error(21201, 400, "No 'To' number is specified"), None, None
        if not from_:
            return 400, twilio_error(21213, 400, "No 'From' number is specified"), None, None
        if not (form.get("Url") or form.get("Twiml") or form.get("ApplicationSid")):
            return 400, twilio_error(21205, 400), None, None
        with self._lock:
            fail_code = self._fail_numbers.get(to)
        if fail_code is not None:
            return 400, twilio_error(fail_code, 400), None, None
        rec = {
            "sid": new_sid("CA"),
            "to": to,
            "from_": from_,
            "url": form.get("Url") or None,
            "twiml": form.get("Twiml") or None,
            "status_callback": form.get("StatusCallback") or None,
            "machine_detection": form.get("MachineDetection") or None,
            "received_at": received_at,
            "sent_at": time.time(),
            "status": "queued",
        }
        with self._lock:
            self._calls.append(rec)
            self._calls_by_sid[rec["sid"]] = rec
        return 201, self._call_resource(rec), None, None

    def _call_resource(self, rec: dict[str, Any]) -> dict[str, Any]:
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Calls/{rec['sid']}.json"
        return {
            "account_sid": self.account_sid,
            "annotation": None,
            "answered_by": None,
            "api_version": API_VERSION,
            "caller_name": None,
            "date_created": rfc2822(rec["received_at"]),
            "date_updated": rfc2822(rec["sent_at"]),
            "direction": rec.get("direction", "outbound-api"),
            "duration": None,
            "end_time": None,
            "forwarded_from": None,
            "from": rec["from_"],
            "from_formatted": rec["from_"],
            "group_sid": None,
            "parent_call_sid": None,
            "phone_number_sid": None,
            "price": None,
            "price_unit": "USD",
            "queue_time": "0",
            "sid": rec["sid"],
            "start_time": None,
            "status": rec["status"],
            "subresource_uris": {},
            "to": rec["to"],
            "to_formatted": rec["to"],
            "trunk_sid": None,
            "uri": uri,
        }
