"""The Messages resource: create, list, fetch, redact, delete; inbound texts and TwiML replies
held as Twilio holds them; faults to inject; and the message status callbacks."""

from __future__ import annotations

import collections
import datetime as _dt
import math
import random
import re
import threading
import time
import urllib.parse
from typing import Any

from bench.fake_twilio.common import (
    API_VERSION,
    ERROR_MESSAGES,
    STATUS_CODES,
    Answer,
    max_in_window,
    new_sid,
    not_found,
    parse_date_filter,
    per_second,
    rfc2822,
    twilio_error,
)

# GSM 03.38 basic character set, and the extension table (each costs two septets).
_GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXT = set("^{}\\[~]|€\f")
_MSG_ONE_RE = re.compile(r"^Messages/(?P<sid>[^/]+)\.json$")


def segments(body: str) -> int:
    """Number of SMS segments Twilio would bill for ``body`` (GSM-7 or UCS-2)."""
    if all(c in _GSM_BASIC or c in _GSM_EXT for c in body):
        units, single, multi = sum(2 if c in _GSM_EXT else 1 for c in body), 160, 153
    else:
        units, single, multi = len(body.encode("utf-16-le")) // 2, 70, 67
    if units <= single:
        return 1
    return math.ceil(units / multi)


class MessagesMixin:
    """Everything about texts. State lives on the fake."""

    _lock: threading.RLock
    account_sid: str
    callbacks: bool
    callback_delay: float
    callback_shuffle: bool
    callback_queued: bool
    hang_every: int
    hang_seconds: float
    _cb_pending: int
    _cb_queue: Any

    def _init_messages(self) -> None:
        self._accepted = 0
        self._fail_numbers: dict[str, int] = {}
        self._undeliverable: dict[str, Any] = {}
        self._fail_queue: collections.deque[int] = collections.deque()
        self._messages: list[dict[str, Any]] = []
        self._by_sid: dict[str, dict[str, Any]] = {}
        # Messages Twilio holds that were not created through the API: inbound texts, TwiML replies.
        self._held: dict[str, dict[str, Any]] = {}
        self._deletes: list[dict[str, Any]] = []
        self._refuse_deletes = 0
        self._created = 0

    def _reset_messages(self, config: bool) -> None:
        self._messages.clear()
        self._by_sid.clear()
        self._held.clear()
        self._deletes.clear()
        self._refuse_deletes = 0
        self._created = 0
        self._fail_queue.clear()
        if config:
            self._fail_numbers = {}
            self._undeliverable = {}

    # -- faults --------------------------------------------------------------------------------
    @property
    def fail_numbers(self) -> dict[str, int]:
        with self._lock:
            return dict(self._fail_numbers)

    @fail_numbers.setter
    def fail_numbers(self, value: dict[str, int] | None) -> None:
        with self._lock:
            self._fail_numbers = {str(k): int(v) for k, v in (value or {}).items()}

    @property
    def undeliverable_numbers(self) -> dict[str, Any]:
        """Number -> error code (ends ``undelivered``) or ``(code, "failed")`` (ends ``failed``)."""
        with self._lock:
            return dict(self._undeliverable)

    @undeliverable_numbers.setter
    def undeliverable_numbers(self, value: dict[str, Any] | None) -> None:
        with self._lock:
            self._undeliverable = dict(value or {})

    def fail_next(self, n: int = 1, status: int = 500) -> None:
        """The next ``n`` message-create requests fail with HTTP ``status`` and record nothing."""
        with self._lock:
            self._fail_queue.extend([int(status)] * int(n))

    # -- what was sent -------------------------------------------------------------------------
    @property
    def messages(self) -> list[dict[str, Any]]:
        """Snapshot of accepted messages in acceptance order (copies; safe to keep)."""
        with self._lock:
            return [dict(m) for m in self._messages]

    @property
    def count(self) -> int:
        with self._lock:
            return len(self._messages)

    def sent_to(self, number: str) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(m) for m in self._messages if m["to"] == number]

    def get_message(self, sid: str) -> dict[str, Any] | None:
        with self._lock:
            m = self._by_sid.get(sid) or self._held.get(sid)
            return dict(m) if m else None

    @property
    def deletes(self) -> list[dict[str, Any]]:
        """Every DELETE of a message, in order: ``{"sid", "status" (HTTP), "at"}``."""
        with self._lock:
            return [dict(d) for d in self._deletes]

    def held(self) -> list[str]:
        """SIDs of every message still stored here (sent, received or replied): what a subpoena finds."""
        with self._lock:
            return [m["sid"] for m in self._messages] + list(self._held)

    def receive(self, from_: str, to: str, body: str) -> str:
        """An inbound text as Twilio stores it before calling the webhook; returns its SID."""
        rec = self._held_record(new_sid("SM"), to=to, from_=from_, body=body, status="received",
                                direction="inbound")
        return str(rec["sid"])

    def reply(self, to: str, from_: str, body: str, action: str | None = None) -> str:
        """A TwiML ``<Message>`` answer, as Twilio sends it: held, with status callbacks to its
        ``action`` URL when callbacks are on. Returns its SID."""
        rec = self._held_record(new_sid("SM"), to=to, from_=from_, body=body, status="queued",
                                direction="outbound-reply", status_callback=action)
        with self._lock:
            wants = self.callbacks and action
            if wants:
                self._cb_pending += 1
            else:
                rec["status"] = "delivered"
        if wants:
            sid = rec["sid"]
            self._cb_queue.put(lambda: self._run_callbacks(sid, "delivered", None))
        return str(rec["sid"])

    def _held_record(self, sid: str, **fields: Any) -> dict[str, Any]:
        now = time.time()
        rec: dict[str, Any] = {
            "sid": sid, "account_sid": self.account_sid, "messaging_service_sid": None,
            "status_callback": None, "validity_period": None, "received_at": now, "sent_at": now,
            "num_segments": segments(fields.get("body", "")), "error_code": None, **fields,
        }
        with self._lock:
            self._held[sid] = rec
        return rec

    def _received_times(self) -> list[float]:
        with self._lock:
            return [m["received_at"] for m in self._messages]

    def per_second_counts(self) -> list[int]:
        return per_second(self._received_times())

    def max_in_any_window(self, seconds: float = 1.0) -> int:
        return max_in_window(self._received_times(), seconds)

    # -- API -----------------------------------------------------------------------------------
    def _messages_api(self, method: str, rest: str, path: str, form: dict[str, str],
                      args: dict[str, str], received_at: float, multi: dict[str, list[str]]) -> Answer | None:
        """The answer to a request under ``Messages``, or None when it is not one."""
        if rest == "Messages.json" and method == "POST":
            return self._create_message(form, received_at)
        if rest == "Messages.json" and method == "GET":
            self._sleep()
            return 200, self._list_messages(path, args), None, None
        if (mm := _MSG_ONE_RE.match(rest)) is not None:
            return self._one_message(method, mm["sid"], form, path)
        return None

    def _create_message(self, form: dict[str, str], received_at: float) -> Answer:
        to = form.get("To", "").strip()
        body = form.get("Body")
        from_ = form.get("From") or None
        mss = form.get("MessagingServiceSid") or None
        with self._lock:
            fault = self._fail_queue.popleft() if self._fail_queue else None
            fail_code = self._fail_numbers.get(to)
            undeliverable = self._undeliverable.get(to)
        self._sleep()
        if fault is not None:
            return fault, twilio_error(STATUS_CODES.get(fault, fault), fault), None, None
        if not to:
            return 400, twilio_error(21604, 400), None, None
        if not from_ and not mss:
            return 400, twilio_error(21603, 400), None, None
        if not body and not form.get("MediaUrl") and not form.get("ContentSid"):
            return 400, twilio_error(21602, 400), None, None
        if fail_code is not None:
            return 400, twilio_error(fail_code, 400), None, None
        vp = form.get("ValidityPeriod")
        try:
            validity = int(vp) if vp not in (None, "") else None
        except ValueError:
            validity = vp  # type: ignore[assignment]
        sent_at = time.time()
        sid = new_sid("SM")
        rec: dict[str, Any] = {
            "sid": sid,
            "account_sid": self.account_sid,
            "to": to,
            "from_": from_,
            "messaging_service_sid": mss,
            "body": body or "",
            "status_callback": form.get("StatusCallback") or None,
            "validity_period": validity,
            "received_at": received_at,
            "sent_at": sent_at,
            "num_segments": segments(body or ""),
            "status": "queued",
            "error_code": None,
        }
        if isinstance(undeliverable, tuple | list):
            err_code, final = int(undeliverable[0]), str(undeliverable[1])
        elif undeliverable is not None:
            err_code, final = int(undeliverable), "undelivered"
        else:
            err_code, final = None, "delivered"
        payload = self._message_resource(rec)  # as created: queued
        with self._lock:
            self._messages.append(rec)
            self._by_sid[sid] = rec
            self._created += 1
            wants_callbacks = self.callbacks and rec["status_callback"]
            self._accepted += 1
            hang = self.hang_seconds if self.hang_every and self._accepted % self.hang_every == 0 else 0.0
            if wants_callbacks:
                self._cb_pending += 1
            else:  # no callbacks: the message is delivered (or not) at once
                rec["status"], rec["error_code"] = final, err_code
        after = None
        if wants_callbacks:
            def after() -> None:  # enqueue after the response
                self._cb_queue.put(lambda: self._run_callbacks(sid, final, err_code))
        if hang:
            self._sleeper(hang)  # accepted and recorded, but the answer is late (the client may give up)
        return 201, payload, None, after

    def _message_resource(self, rec: dict[str, Any]) -> dict[str, Any]:
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{rec['sid']}.json"
        status = rec["status"]
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": rec["body"],
            "date_created": rfc2822(rec["received_at"]),
            "date_sent": rfc2822(rec["sent_at"]) if status != "queued" else None,
            "date_updated": rfc2822(rec["sent_at"]),
            "direction": rec.get("direction", "outbound-api"),
            "error_code": rec["error_code"],
            "error_message": ERROR_MESSAGES.get(rec["error_code"]) if rec["error_code"] else None,
            "from": rec["from_"],
            "messaging_service_sid": rec["messaging_service_sid"],
            "num_media": "0",
            "num_segments": str(rec["num_segments"]),
            "price": None,
            "price_unit": "USD",
            "sid": rec["sid"],
            "status": status,
            "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
            "to": rec["to"],
            "uri": uri,
        }

    def _list_messages(self, path: str, args: dict[str, str]) -> dict[str, Any]:
        page_size = max(1, min(1000, int(args.get("PageSize") or 50)))
        page = int(args.get("Page") or 0)
        token = args.get("PageToken") or ""
        filters: list[tuple[str, _dt.datetime, bool]] = []
        for key, op in (("DateSent", "="), ("DateSent>", ">="), ("DateSent<", "<=")):
            if args.get(key):
                d, date_only = parse_date_filter(args[key])
                filters.append((op, d, date_only))

        def keep(rec: dict[str, Any]) -> bool:
            if args.get("To") and rec["to"] != args["To"]:
                return False
            if args.get("From") and rec["from_"] != args["From"]:
                return False
            sent = _dt.datetime.fromtimestamp(rec["sent_at"], tz=_dt.UTC)
            for op, d, date_only in filters:
                lhs: Any = sent.date() if date_only else sent
                rhs: Any = d.date() if date_only else d
                if (op == "=" and lhs != rhs) or (op == ">=" and lhs < rhs) or (op == "<=" and lhs > rhs):
                    return False
            return True

        with self._lock:
            # newest first, like Twilio
            rows = [r for r in reversed(self._messages) if keep(r)]
            start = 0
            if token.startswith("PA"):
                sids = [r["sid"] for r in rows]
                start = sids.index(token[2:]) + 1 if token[2:] in sids else len(rows)
            else:
                start = page * page_size
            chunk = rows[start : start + page_size]
            items = [self._message_resource(r) for r in chunk]
            more = start + page_size < len(rows)

        base = {k: v for k, v in args.items() if k not in ("Page", "PageSize", "PageToken")}

        def uri(p: int, tok: str | None = None) -> str:
            qs = dict(base, PageSize=str(page_size), Page=str(p))
            if tok:
                qs["PageToken"] = tok
            return f"{path}?{urllib.parse.urlencode(qs)}"

        return {
            "end": start + len(items) - 1 if items else start,
            "first_page_uri": uri(0),
            "messages": items,
            "next_page_uri": uri(page + 1, "PA" + chunk[-1]["sid"]) if more and chunk else None,
            "page": page,
            "page_size": page_size,
            "previous_page_uri": uri(page - 1) if page > 0 else None,
            "start": start,
            "uri": uri(page, token or None),
        }

    def _one_message(self, method: str, sid: str, form: dict[str, str], path: str) -> Answer:
        self._sleep()
        missing = not_found(path)
        with self._lock:
            rec = self._by_sid.get(sid) or self._held.get(sid)
            if method == "DELETE":
                return self._delete_message(sid, rec)
            if rec is None:
                return missing
            if method == "GET":
                return 200, self._message_resource(rec), None, None
            if method == "POST":  # redaction: Body="" blanks the stored body
                if "Body" in form:
                    if form["Body"] != "":
                        return 400, twilio_error(21602, 400, "Body can only be redacted to ''"), None, None
                    rec["body"] = ""
                return 200, self._message_resource(rec), None, None
        return 405, twilio_error(20004, 405, "Method not allowed"), None, None

    def _delete_message(self, sid: str, rec: dict[str, Any] | None) -> Answer:
        """Called with the lock held."""
        answer: Answer
        if rec is None:
            answer = not_found(f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}.json")
        elif self._refuse_deletes > 0 or rec["status"] in ("accepted", "queued", "sending"):
            self._refuse_deletes = max(0, self._refuse_deletes - 1)
            answer = 409, twilio_error(20009, 409), None, None
        else:
            if self._by_sid.pop(sid, None) is not None:
                self._messages.remove(rec)
            self._held.pop(sid, None)
            answer = 204, None, None, None
        self._deletes.append({"sid": sid, "status": answer[0], "at": time.time()})
        return answer

    # -- status callbacks ----------------------------------------------------------------------
    def _run_callbacks(self, sid: str, final: str, err_code: int | None) -> None:
        if final == "failed":
            steps: list[tuple[str, int | None]] = [("queued", None), ("failed", err_code)]
        else:
            steps = [("queued", None), ("sent", None), (final, err_code)]
        if not self.callback_queued:
            steps = steps[1:]
        if self.callback_shuffle:
            random.shuffle(steps)
        for status, code in steps:
            if self.callback_delay > 0:
                time.sleep(self.callback_delay)
            with self._lock:
                rec = self._by_sid.get(sid) or self._held.get(sid)
                if rec is None:
                    return
                rec["status"], rec["error_code"] = status, code
                url = rec["status_callback"]
                params = {
                    "AccountSid": self.account_sid,
                    "ApiVersion": API_VERSION,
                    "From": rec["from_"] or "",
                    "MessageSid": sid,
                    "MessageStatus": status,
                    "SmsSid": sid,
                    "SmsStatus": status,
                    "To": rec["to"],
                }
                if rec["messaging_service_sid"]:
                    params["MessagingServiceSid"] = rec["messaging_service_sid"]
            if code is not None:
                params["ErrorCode"] = str(code)
            self.post_signed(url, params)
        # the stored status ends at the final one even when callbacks were shuffled
        with self._lock:
            rec = self._by_sid.get(sid) or self._held.get(sid)
            if rec is not None:
                rec["status"], rec["error_code"] = final, err_code
