"""The Calls resource: create (Twiml or Url, StatusCallback, StatusCallbackEvent, MachineDetection),
list, fetch, update (hang up or cancel) and delete, each recorded for inspection. Playing a call
(what the callee does, and the requests Twilio makes of the application) is in ``voice``."""

from __future__ import annotations

import re
import threading
import time
import urllib.parse
from typing import Any

from bench.fake_twilio.common import API_VERSION, Answer, new_sid, not_found, rfc2822, twilio_error

_CALL_ONE_RE = re.compile(r"^Calls/(?P<sid>[^/]+)\.json$")
FINAL_CALL_STATUSES = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
STATUS_CALLBACK_EVENTS = ("initiated", "ringing", "answered", "completed")
MACHINE_DETECTION = ("Enable", "DetectMessageEnd")


class CallsMixin:
    """Everything about calls as API resources. State lives on the fake."""

    _lock: threading.RLock
    account_sid: str
    _fail_numbers: dict[str, int]

    def _init_calls(self) -> None:
        self._calls: list[dict[str, Any]] = []
        self._calls_by_sid: dict[str, dict[str, Any]] = {}
        self._call_deletes: list[dict[str, Any]] = []

    def _reset_calls(self) -> None:
        self._calls.clear()
        self._calls_by_sid.clear()
        self._call_deletes.clear()

    @property
    def calls(self) -> list[dict[str, Any]]:
        """Snapshot of every call (placed through the API or incoming), in order (copies)."""
        with self._lock:
            return [_copy(c) for c in self._calls]

    def get_call(self, sid: str) -> dict[str, Any] | None:
        with self._lock:
            c = self._calls_by_sid.get(sid)
            return _copy(c) if c else None

    def calls_to(self, number: str) -> list[dict[str, Any]]:
        with self._lock:
            return [_copy(c) for c in self._calls if c["to"] == number]

    @property
    def call_deletes(self) -> list[dict[str, Any]]:
        """Every DELETE of a call, in order: ``{"sid", "status" (HTTP), "at"}``."""
        with self._lock:
            return [dict(d) for d in self._call_deletes]

    def call_times(self) -> list[float]:
        """When each call placed through the API reached the fake (for rate measurements)."""
        with self._lock:
            return [c["received_at"] for c in self._calls if c["direction"] == "outbound-api"]

    def _calls_api(self, method: str, rest: str, path: str, form: dict[str, str],
                   args: dict[str, str], received_at: float, multi: dict[str, list[str]]) -> Answer | None:
        """The answer to a request under ``Calls``, or None when it is not one."""
        if rest == "Calls.json" and method == "POST":
            return self._create_call(form, multi, received_at)
        if rest == "Calls.json" and method == "GET":
            self._sleep()
            return 200, self._list_calls(path, args), None, None
        if (mc := _CALL_ONE_RE.match(rest)) is None:
            return None
        self._sleep()
        sid = mc["sid"]
        with self._lock:
            call = self._calls_by_sid.get(sid)
            if method == "DELETE":
                return self._delete_call(sid, call, path)
            if call is None:
                return not_found(path)
            if method == "POST":
                return self._update_call(call, form)
            if method == "GET":
                return 200, self._call_resource(call), None, None
        return 405, twilio_error(20004, 405, "Method not allowed"), None, None

    def _create_call(self, form: dict[str, str], multi: dict[str, list[str]], received_at: float) -> Answer:
        self._sleep()
        to, from_ = form.get("To", "").strip(), form.get("From", "").strip()
        if not to:
            return 400, twilio_error(21201, 400, "No 'To' number is specified"), None, None
        if not from_:
            return 400, twilio_error(21213, 400, "No 'From' number is specified"), None, None
        if not (form.get("Url") or form.get("Twiml") or form.get("ApplicationSid")):
            return 400, twilio_error(21205, 400), None, None
        events: list[str] = []
        for value in multi.get("StatusCallbackEvent", []):
            events.extend(value.split())  # repeated, or space-separated: Twilio takes both
        if any(e not in STATUS_CALLBACK_EVENTS for e in events):
            return 400, twilio_error(21626, 400, "StatusCallbackEvent must be initiated, ringing, answered or "
                                                 "completed"), None, None
        amd = form.get("MachineDetection") or None
        if amd is not None and amd not in MACHINE_DETECTION:
            return 400, twilio_error(21626, 400, "MachineDetection must be Enable or DetectMessageEnd"), None, None
        with self._lock:
            fail_code = self._fail_numbers.get(to)
        if fail_code is not None:
            return 400, twilio_error(fail_code, 400), None, None
        rec = self._new_call(
            to=to, from_=from_, direction="outbound-api", received_at=received_at,
            url=form.get("Url") or None, method=(form.get("Method") or "POST").upper(),
            twiml=form.get("Twiml") or None,
            status_callback=form.get("StatusCallback") or None,
            status_callback_method=(form.get("StatusCallbackMethod") or "POST").upper(),
            status_callback_event=events or ["completed"],
            machine_detection=amd,
        )
        payload = self._call_resource(rec)
        return 201, payload, None, self._after_call_created(rec)

    def _after_call_created(self, rec: dict[str, Any]) -> Any:
        return None  # overridden by the voice player

    def _new_call(self, **fields: Any) -> dict[str, Any]:
        rec: dict[str, Any] = {
            "sid": new_sid("CA"), "account_sid": self.account_sid, "url": None, "method": "POST", "twiml": None,
            "status_callback": None, "status_callback_method": "POST", "status_callback_event": ["completed"],
            "machine_detection": None, "sent_at": time.time(), "status": "queued", "answered_by": None,
            "fate": None, "heard": [], "said": [], "pressed": [], "recordings": [], "requests": [],
            "errors": [], "statuses_sent": [], "start_time": None, "end_time": None, "duration": None,
            "hangup_requested": False, "seconds": 0, **fields,
        }
        with self._lock:
            self._calls.append(rec)
            self._calls_by_sid[rec["sid"]] = rec
        return rec

    def _update_call(self, call: dict[str, Any], form: dict[str, str]) -> Answer:
        """Called with the lock held. Status=completed hangs up a live call; canceled one not yet
        answered (Twilio's rules: 21220 otherwise)."""
        status = form.get("Status", "").strip()
        if status == "canceled" and call["status"] in ("queued", "ringing"):
            call["hangup_requested"] = True
            call["status"] = "canceled"
        elif status == "completed" and call["status"] not in FINAL_CALL_STATUSES:
            call["hangup_requested"] = True
        elif status:
            return 400, twilio_error(21220, 400, "Call is not in-progress. Cannot redirect."), None, None
        return 200, self._call_resource(call), None, None

    def _delete_call(self, sid: str, call: dict[str, Any] | None, path: str) -> Answer:
        """Called with the lock held. A call is deleted once over; before that Twilio answers 20009."""
        answer: Answer
        if call is None:
            answer = not_found(path)
        elif call["status"] not in FINAL_CALL_STATUSES:
            answer = 409, twilio_error(20009, 409, "Unable to delete record: the call is not over"), None, None
        else:
            self._calls.remove(call)
            self._calls_by_sid.pop(sid, None)
            answer = 204, None, None, None
        self._call_deletes.append({"sid": sid, "status": answer[0], "at": time.time()})
        return answer

    def _list_calls(self, path: str, args: dict[str, str]) -> dict[str, Any]:
        page_size = max(1, min(1000, int(args.get("PageSize") or 50)))
        page = int(args.get("Page") or 0)

        def keep(rec: dict[str, Any]) -> bool:
            return (not args.get("To") or rec["to"] == args["To"]) and (
                not args.get("From") or rec["from_"] == args["From"]) and (
                not args.get("Status") or rec["status"] == args["Status"])

        with self._lock:
            rows = [r for r in reversed(self._calls) if keep(r)]  # newest first, like Twilio
            start = page * page_size
            items = [self._call_resource(r) for r in rows[start : start + page_size]]
            more = start + page_size < len(rows)
        base = {k: v for k, v in args.items() if k not in ("Page", "PageSize", "PageToken")}

        def uri(p: int) -> str:
            return f"{path}?{urllib.parse.urlencode(dict(base, PageSize=str(page_size), Page=str(p)))}"

        return {
            "calls": items, "end": start + len(items) - 1 if items else start, "first_page_uri": uri(0),
            "next_page_uri": uri(page + 1) if more else None, "page": page, "page_size": page_size,
            "previous_page_uri": uri(page - 1) if page > 0 else None, "start": start, "uri": uri(page),
        }

    def _call_resource(self, rec: dict[str, Any]) -> dict[str, Any]:
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Calls/{rec['sid']}.json"
        return {
            "account_sid": self.account_sid,
            "annotation": None,
            "answered_by": rec.get("answered_by"),
            "api_version": API_VERSION,
            "caller_name": None,
            "date_created": rfc2822(rec["received_at"]),
            "date_updated": rfc2822(rec["sent_at"]),
            "direction": rec.get("direction", "outbound-api"),
            "duration": None if rec.get("duration") is None else str(rec["duration"]),
            "end_time": rfc2822(rec.get("end_time")),
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
            "start_time": rfc2822(rec.get("start_time")),
            "status": rec["status"],
            "subresource_uris": {"recordings": uri.replace(".json", "/Recordings.json")},
            "to": rec["to"],
            "to_formatted": rec["to"],
            "trunk_sid": None,
            "uri": uri,
        }


def _copy(rec: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, list) else v for k, v in rec.items()}
