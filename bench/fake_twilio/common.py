"""What every resource of the fake shares: SIDs, dates, Twilio's error bodies, window counts."""

from __future__ import annotations

import datetime as _dt
import email.utils
import re
import urllib.parse
import uuid
from typing import Any

API_VERSION = "2010-04-01"
DEFAULT_ACCOUNT_SID = "AC" + "fa4e" * 8
DEFAULT_AUTH_TOKEN = "fa4e70ce" * 4

# Messages Twilio returns for the API errors a fake is likely to be asked for.
ERROR_MESSAGES: dict[int, str] = {
    20003: "Authenticate",
    20009: "Unable to delete record: the message is still being processed",
    20404: "The requested resource was not found",
    20429: "Too Many Requests",
    20500: "Internal Server Error",
    20503: "Service Unavailable",
    21205: "Url parameter is required.",
    21211: "Invalid 'To' Phone Number",
    21408: "Permission to send an SMS has not been enabled for the region indicated by the 'To' number",
    21602: "Message body is required.",
    21603: "The 'From' phone number is required.",
    21604: "A 'To' phone number is required.",
    21610: "Attempt to send to unsubscribed recipient",
    21612: "The 'To' phone number is not currently reachable via SMS",
    21614: "'To' number is not a valid mobile number",
    30001: "Queue overflow",
    30003: "Unreachable destination handset",
    30005: "Unknown destination handset",
    30006: "Landline or unreachable carrier",
    30007: "Message filtered",
    30008: "Unknown error",
    30036: "Validity Period Expired",
}
STATUS_CODES = {429: 20429, 500: 20500, 503: 20503}

# What an API handler answers: (HTTP status, JSON payload, extra headers, run after the response).
Answer = tuple[int, Any, "dict[str, str] | None", Any]


def new_sid(prefix: str) -> str:
    """A Twilio-shaped SID: two-letter prefix + 32 hex digits."""
    return prefix + uuid.uuid4().hex


def rfc2822(ts: float | None) -> str | None:
    """Twilio's date format, e.g. ``Thu, 24 Aug 2023 05:01:45 +0000``."""
    if ts is None:
        return None
    return email.utils.formatdate(ts, usegmt=True).replace("GMT", "+0000")


def max_in_window(times: list[float], seconds: float = 1.0) -> int:
    """Maximum number of ``times`` inside any half-open window ``[s, s + seconds)``.

    Points fit in such a window iff ``max - min < seconds``; sort and sweep two pointers.
    """
    ts = sorted(times)
    best = lo = 0
    for hi, t in enumerate(ts):
        while t - ts[lo] >= seconds:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def per_second(times: list[float]) -> list[int]:
    """Counts in consecutive 1-s windows starting at the earliest time."""
    if not times:
        return []
    t0 = min(times)
    counts: list[int] = []
    for t in times:
        i = int((t - t0) // 1.0)
        if i >= len(counts):
            counts.extend([0] * (i + 1 - len(counts)))
        counts[i] += 1
    return counts


def twilio_error(code: int, status: int, message: str | None = None) -> dict[str, Any]:
    """Twilio's JSON error body."""
    return {
        "code": code,
        "message": message or ERROR_MESSAGES.get(code, f"Fake Twilio error {code}"),
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def not_found(path: str) -> Answer:
    return 404, twilio_error(20404, 404, f"The requested resource {path} was not found"), None, None


def last_values(encoded: str) -> dict[str, str]:
    """A form or query string as Twilio reads it: the last value of each name, blanks kept."""
    return {k: v[-1] for k, v in urllib.parse.parse_qs(encoded, keep_blank_values=True).items()}


def parse_date_filter(value: str) -> tuple[_dt.datetime, bool]:
    """Parse a DateSent filter value; returns (UTC datetime, is_date_only)."""
    value = value.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return _dt.datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=_dt.UTC), True
    v = value.replace("Z", "+00:00")
    d = _dt.datetime.fromisoformat(v)
    if d.tzinfo is None:
        d = d.replace(tzinfo=_dt.UTC)
    return d, False
