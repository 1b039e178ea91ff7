"""A loopback, Twilio-compatible REST server for end-to-end tests and benchmarks.

Standard library plus ``twilio`` (only for ``RequestValidator`` to sign status callbacks and for
``TwilioHttpClient`` in the redirecting helper client).

In process::

    with FakeTwilio(latency=0.05, callbacks=True) as fake:
        client = twilio_client(fake)
        msg = client.messages.create(to="+15550001234", from_="+15550009999", body="hi",
                                     status_callback="http://127.0.0.1:5000/twilio/status")
        fake.wait_for_callbacks()
        assert fake.sent_to("+15550001234")[0]["sid"] == msg.sid

Out of process::

    python -m bench.fake_twilio --port 8099 --latency-ms 100 --account-sid AC... --auth-token ...

Admin interface (loopback, no auth): ``GET /_fake/messages``, ``GET /_fake/calls``,
``GET /_fake/stats[?window=1.0]``, ``GET /_fake/deletes`` (every DELETE of a message and its
answer), ``GET /_fake/held`` (SIDs of every message still stored: sent, received or replied),
``POST /_fake/receive`` (JSON from, to, body: an inbound text; answers its sid), ``POST
/_fake/reply`` (JSON to, from, body, action: a TwiML reply as Twilio sends it),
``GET /_fake/config``, ``POST /_fake/reset`` (JSON body
``{"config": true}`` also restores the configuration), ``POST /_fake/config`` (JSON: latency,
fail_numbers, fail_next {n, status}, undeliverable_numbers, callbacks, callback_delay,
callback_shuffle, hang_every, hang_seconds: every Nth accepted message is answered only after
hang_seconds, as a Twilio that took the text but is slow to say so), refuse_deletes_next.

Deleting a message (``DELETE .../Messages/SM....json``) answers 204 and forgets it, 404 when it
is not there, and 409 with error 20009 while the message is not final yet (queued, sending), as
Twilio refuses a delete until its own processing is done; ``refuse_deletes_next`` makes the next
n deletes answer 20009 whatever the status. Inbound texts (``receive``) and TwiML replies
(``reply``) are held too, apart from ``messages`` (which stays the API sends, for measurements).

Notes that matter for measurements:

* The handler sets ``disable_nagle_algorithm``: http.server answers in two writes, and without
  TCP_NODELAY every keep-alive request waits ~40 ms for a delayed ACK.
* ``request_queue_size`` is raised from 5 so that bursts of new connections are not dropped
  (a dropped SYN costs a 1-s retransmit, which would poison any rate measurement).
* ``block_on_close`` is off: clients keep idle keep-alive connections open, and ``stop()`` would
  otherwise wait for them forever. ``stop()`` shuts those sockets down instead.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import collections
import datetime as _dt
import email.utils
import json
import math
import queue
import random
import re
import signal
import socket
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from requests.adapters import HTTPAdapter
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator

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
_STATUS_CODES = {429: 20429, 500: 20500, 503: 20503}

# GSM 03.38 basic character set, and the extension table (each costs two septets).
_GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXT = set("^{}\\[~]|€\f")


# --------------------------------------------------------------------------------------------
# Pure helpers
# --------------------------------------------------------------------------------------------


def new_sid(prefix: str) -> str:
    """A Twilio-shaped SID: two-letter prefix + 32 hex digits."""
    return prefix + uuid.uuid4().hex


def segments(body: str) -> int:
    """Number of SMS segments Twilio would bill for ``body`` (GSM-7 or UCS-2)."""
    if all(c in _GSM_BASIC or c in _GSM_EXT for c in body):
        units, single, multi = sum(2 if c in _GSM_EXT else 1 for c in body), 160, 153
    else:
        units, single, multi = len(body.encode("utf-16-le")) // 2, 70, 67
    if units <= single:
        return 1
    return math.ceil(units / multi)


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


def _not_found(path: str):
    return 404, twilio_error(20404, 404, f"The requested resource {path} was not found"), None, None


def _parse_date_filter(value: str) -> tuple[_dt.datetime, bool]:
    """Parse a DateSent filter value; returns (UTC datetime, is_date_only)."""
    value = value.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return _dt.datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=_dt.UTC), True
    v = value.replace("Z", "+00:00")
    d = _dt.datetime.fromisoformat(v)
    if d.tzinfo is None:
        d = d.replace(tzinfo=_dt.UTC)
    return d, False


# --------------------------------------------------------------------------------------------
# Redirecting client (the bench's own copy; the application has its own in its adapter)
# --------------------------------------------------------------------------------------------


class RedirectingHttpClient(TwilioHttpClient):
    """TwilioHttpClient that sends every request to ``base_url`` instead of *.twilio.com.

    The scheme and host of each URL are replaced; path and query are kept. Proxy environment
    variables are ignored (loopback traffic must not go through a proxy).
    """

    def __init__(self, base_url: str, pool_maxsize: int = 32, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        parts = urllib.parse.urlsplit(base_url)
        self.base_scheme = parts.scheme
        self.base_netloc = parts.netloc
        self.base_path = parts.path.rstrip("/")
        if self.session is not None:
            self.session.trust_env = False
            adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_maxsize)
            self.session.mount("http://", adapter)
            self.session.mount("https://", adapter)

    def rewrite(self, url: str) -> str:
        parts = urllib.parse.urlsplit(url)
        return urllib.parse.urlunsplit(
            (self.base_scheme, self.base_netloc, self.base_path + parts.path, parts.query, "")
        )

    def request(self, method, url, *args, **kwargs):  # type: ignore[override]
        return super().request(method, self.rewrite(url), *args, **kwargs)

    def close(self) -> None:
        if self.session is not None:
            self.session.close()


def twilio_client(fake: FakeTwilio, **http_kwargs: Any):
    """A ``twilio.rest.Client`` whose HTTP goes to ``fake``. Close with
    ``client.http_client.close()`` when done (it holds keep-alive connections)."""
    from twilio.rest import Client

    return Client(
        fake.account_sid,
        fake.auth_token,
        http_client=RedirectingHttpClient(fake.url, **http_kwargs),
    )


# --------------------------------------------------------------------------------------------
# HTTP layer
# --------------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 256
    allow_reuse_address = True
    fake: FakeTwilio


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "FakeTwilio/1.0"
    sys_version = ""
    server: _Server

    # -- plumbing ------------------------------------------------------------------------------
    def setup(self) -> None:
        super().setup()
        self.server.fake._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.fake._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        if self.server.fake.verbose:
            super().log_message(format, *args)

    def _body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def _send(self, status: int, payload: Any = None, headers: dict[str, str] | None = None) -> None:
        body = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        if payload is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if body:
            self.wfile.write(body)

    def _dispatch(self, method: str) -> None:
        fake = self.server.fake
        parts = urllib.parse.urlsplit(self.path)
        body = self._body()
        try:
            if parts.path.startswith("/_fake/"):
                status, payload = fake._admin(method, parts.path, parts.query, body)
                self._send(status, payload)
                return
            status, payload, headers, after = fake._api(
                method, parts.path, parts.query, body, self.headers.get("Authorization")
            )
        except Exception as exc:  # a bug in the fake must not hang the client
            self._send(500, twilio_error(20500, 500, f"fake_twilio: {exc!r}"))
            raise
        self._send(status, payload, headers)
        if after is not None:
            after()

    def do_GET(self) -> None:  # noqa: N802
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch("DELETE")


# --------------------------------------------------------------------------------------------
# The fake
# --------------------------------------------------------------------------------------------

_ACCOUNT_RE = re.compile(r"^/2010-04-01/Accounts/(?P<acct>[^/]+)/(?P<rest>.+)$")
_MSG_ONE_RE = re.compile(r"^Messages/(?P<sid>[^/]+)\.json$")
_CALL_ONE_RE = re.compile(r"^Calls/(?P<sid>[^/]+)\.json$")


class FakeTwilio:
    """Loopback Twilio REST fake. All public attributes are safe to change while serving."""

    def __init__(
        self,
        account_sid: str = DEFAULT_ACCOUNT_SID,
        auth_token: str = DEFAULT_AUTH_TOKEN,
        latency: float = 0.0,
        port: int = 0,
        callbacks: bool = False,
        callback_workers: int = 4,
        callback_timeout: float = 2.0,
        verbose: bool = False,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.account_sid = account_sid
        self._sleeper = sleep  # tests hand in a recorder: latency is checked, not timed
        self.auth_token = auth_token
        self.port = port
        self.verbose = verbose
        self.callback_timeout = callback_timeout
        self._defaults = {"latency": float(latency), "callbacks": bool(callbacks)}
        self._lock = threading.RLock()
        self._validator = RequestValidator(auth_token)
        self._expected_auth = "Basic " + base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode(
            "ascii"
        )
        # configuration (runtime-settable)
        self.latency = float(latency)
        self.callbacks = bool(callbacks)
        self.callback_delay = 0.0  # seconds before each status callback
        self.callback_shuffle = False  # send each message's callbacks in random order
        self.hang_every = 0  # every Nth accepted message is answered hang_seconds late (0: none)
        self.hang_seconds = 0.0
        self._accepted = 0
        self._fail_numbers: dict[str, int] = {}
        self._undeliverable: dict[str, Any] = {}
        self._fail_queue: collections.deque[int] = collections.deque()
        # recordings
        self._messages: list[dict[str, Any]] = []
        self._by_sid: dict[str, dict[str, Any]] = {}
        self._calls: list[dict[str, Any]] = []
        self._calls_by_sid: dict[str, dict[str, Any]] = {}
        # Messages Twilio holds that were not created through the API: inbound texts, TwiML replies.
        self._held: dict[str, dict[str, Any]] = {}
        self._deletes: list[dict[str, Any]] = []
        self._refuse_deletes = 0
        self._created = 0
        self.callback_errors = 0
        self.callbacks_sent = 0
        self.callback_log: list[dict[str, Any]] = []
        # machinery
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._conns: set[socket.socket] = set()
        self._cb_queue: queue.Queue[Any] = queue.Queue()
        self._cb_workers: list[threading.Thread] = []
        self._cb_n = callback_workers
        self._cb_pending = 0
        self._cb_cond = threading.Condition(self._lock)

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> FakeTwilio:
        with self._lock:
            if self._server is not None:
                return self
            server = _Server(("127.0.0.1", self.port), _Handler)
            server.fake = self
            self._server = server
            self.port = server.server_address[1]
            self._thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.1},
                name=f"fake-twilio-{self.port}",
                daemon=True,
            )
            self._thread.start()
            self._cb_workers = [
                threading.Thread(target=self._cb_loop, name=f"fake-twilio-cb-{i}", daemon=True)
                for i in range(self._cb_n)
            ]
            for t in self._cb_workers:
                t.start()
        return self

    def stop(self) -> None:
        with self._lock:
            server, thread, workers = self._server, self._thread, self._cb_workers
            self._server, self._thread, self._cb_workers = None, None, []
            conns = list(self._conns)
        if server is None:
            return
        server.shutdown()
        server.server_close()
        for c in conns:  # wake handler threads parked on idle keep-alive connections
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for _ in workers:
            self._cb_queue.put(None)
        for t in [thread, *workers]:
            if t is not None:
                t.join(timeout=5)

    def __enter__(self) -> FakeTwilio:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            if add:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    # -- configuration -------------------------------------------------------------------------
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

    def configure(self, **cfg: Any) -> None:
        """Apply the same keys as ``POST /_fake/config``."""
        with self._lock:
            if "latency" in cfg:
                self.latency = float(cfg["latency"])
            if "fail_numbers" in cfg:
                self.fail_numbers = cfg["fail_numbers"]
            if "undeliverable_numbers" in cfg:
                und = cfg["undeliverable_numbers"] or {}
                self.undeliverable_numbers = {
                    k: tuple(v) if isinstance(v, list) else v for k, v in und.items()
                }
            if cfg.get("fail_next"):
                fn = cfg["fail_next"]
                self.fail_next(int(fn.get("n", 1)), int(fn.get("status", 500)))
            if "callbacks" in cfg:
                self.callbacks = bool(cfg["callbacks"])
            if "callback_delay" in cfg:
                self.callback_delay = float(cfg["callback_delay"])
            if "callback_shuffle" in cfg:
                self.callback_shuffle = bool(cfg["callback_shuffle"])
            if "hang_every" in cfg:
                self.hang_every = int(cfg["hang_every"])
            if "hang_seconds" in cfg:
                self.hang_seconds = float(cfg["hang_seconds"])
            if "refuse_deletes_next" in cfg:
                self._refuse_deletes = int(cfg["refuse_deletes_next"])

    def config(self) -> dict[str, Any]:
        with self._lock:
            return {
                "account_sid": self.account_sid,
                "latency": self.latency,
                "fail_numbers": dict(self._fail_numbers),
                "fail_next": list(self._fail_queue),
                "undeliverable_numbers": dict(self._undeliverable),
                "callbacks": self.callbacks,
                "callback_delay": self.callback_delay,
                "callback_shuffle": self.callback_shuffle,
                "hang_every": self.hang_every,
                "hang_seconds": self.hang_seconds,
                "refuse_deletes_next": self._refuse_deletes,
            }

    def reset(self, config: bool = False) -> None:
        """Forget recorded messages, calls, callback counters and pending ``fail_next`` faults.
        With ``config=True`` also restore latency/callbacks and clear fail/undeliverable maps."""
        with self._lock:
            self._messages.clear()
            self._by_sid.clear()
            self._calls.clear()
            self._calls_by_sid.clear()
            self._held.clear()
            self._deletes.clear()
            self._refuse_deletes = 0
            self._created = 0
            self._fail_queue.clear()
            self.callback_errors = 0
            self.callbacks_sent = 0
            self.callback_log.clear()
            if config:
                self.latency = self._defaults["latency"]
                self.callbacks = self._defaults["callbacks"]
                self.callback_delay = 0.0
                self.callback_shuffle = False
                self.hang_every = 0
                self.hang_seconds = 0.0
                self._fail_numbers = {}
                self._undeliverable = {}

    # -- recordings ----------------------------------------------------------------------------
    @property
    def messages(self) -> list[dict[str, Any]]:
        """Snapshot of accepted messages in acceptance order (copies; safe to keep)."""
        with self._lock:
            return [dict(m) for m in self._messages]

    @property
    def calls(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(c) for c in self._calls]

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
            self._cb_queue.put((rec["sid"], "delivered", None))
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

    def stats(self, window: float = 1.0) -> dict[str, Any]:
        times = self._received_times()
        with self._lock:
            segs = sum(m["num_segments"] for m in self._messages)
            extra = {
                "calls": len(self._calls),
                "callbacks_sent": self.callbacks_sent,
                "callback_errors": self.callback_errors,
                "callbacks_pending": self._cb_pending,
                # Every message accepted through the API, deleted since or not.
                "created": self._created,
                "held": len(self._messages) + len(self._held),
                "deletes": len(self._deletes),
            }
        return {
            "count": len(times),
            "segments": segs,
            "window": window,
            "max_in_any_window": max_in_window(times, window),
            "per_second_counts": per_second(times),
            "first_received_at": min(times) if times else None,
            "last_received_at": max(times) if times else None,
            **extra,
        }

    def wait_for_callbacks(self, timeout: float = 10.0) -> bool:
        """Block until every queued status callback has been attempted."""
        deadline = time.monotonic() + timeout
        with self._cb_cond:
            while self._cb_pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cb_cond.wait(left)
        return True

    # -- API -----------------------------------------------------------------------------------
    def _api(self, method: str, path: str, query: str, body: bytes, authorization: str | None):
        """Returns (status, payload, headers, after_response_callable)."""
        received_at = time.time()
        m = _ACCOUNT_RE.match(path)
        if m is None:
            return _not_found(path)
        if not self._authorized(authorization):
            self._sleep()
            return 401, twilio_error(20003, 401), {"WWW-Authenticate": 'Basic realm="Twilio API"'}, None
        if m["acct"] != self.account_sid:
            self._sleep()
            return _not_found(path)
        rest = m["rest"]
        form = {k: v[-1] for k, v in urllib.parse.parse_qs(body.decode(), keep_blank_values=True).items()}
        q = urllib.parse.parse_qs(query, keep_blank_values=True)
        args = {k: v[-1] for k, v in q.items()}
        if rest == "Messages.json" and method == "POST":
            return self._create_message(form, received_at)
        if rest == "Messages.json" and method == "GET":
            self._sleep()
            return 200, self._list_messages(path, args), None, None
        if (mm := _MSG_ONE_RE.match(rest)) is not None:
            return self._one_message(method, mm["sid"], form, path)
        if rest == "Calls.json" and method == "POST":
            return self._create_call(form, received_at)
        if (mc := _CALL_ONE_RE.match(rest)) is not None and method == "GET":
            self._sleep()
            with self._lock:
                call = self._calls_by_sid.get(mc["sid"])
                payload = self._call_resource(call) if call else None
            if payload is None:
                return _not_found(path)
            return 200, payload, None, None
        self._sleep()
        return _not_found(path)

    def _authorized(self, header: str | None) -> bool:
        if not header:
            return False
        if header == self._expected_auth:
            return True
        try:  # tolerate different base64 padding/whitespace
            scheme, _, value = header.partition(" ")
            user, _, pw = base64.b64decode(value.strip()).decode().partition(":")
        except (ValueError, binascii.Error, UnicodeDecodeError):
            return False
        return scheme.lower() == "basic" and user == self.account_sid and pw == self.auth_token

    def _sleep(self) -> None:
        lat = self.latency
        if lat > 0:
            self._sleeper(lat)

    def _create_message(self, form: dict[str, str], received_at: float):
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
            return fault, twilio_error(_STATUS_CODES.get(fault, fault), fault), None, None
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
            job = (sid, final, err_code)
            after = lambda: self._cb_queue.put(job)  # noqa: E731 - enqueue after the response
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
                d, date_only = _parse_date_filter(args[key])
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

    def _one_message(self, method: str, sid: str, form: dict[str, str], path: str):
        self._sleep()
        not_found = _not_found(path)
        with self._lock:
            rec = self._by_sid.get(sid) or self._held.get(sid)
            if method == "DELETE":
                return self._delete_message(sid, rec)
            if rec is None:
                return not_found
            if method == "GET":
                return 200, self._message_resource(rec), None, None
            if method == "POST":  # redaction: Body="" blanks the stored body
                if "Body" in form:
                    if form["Body"] != "":
                        return 400, twilio_error(21602, 400, "Body can only be redacted to ''"), None, None
                    rec["body"] = ""
                return 200, self._message_resource(rec), None, None
        return 405, twilio_error(20004, 405, "Method not allowed"), None, None

    def _delete_message(self, sid: str, rec: dict[str, Any] | None):
        """Called with the lock held."""
        if rec is None:
            answer = _not_found(f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}.json")
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

    def _create_call(self, form: dict[str, str], received_at: float):
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

    # -- status callbacks ----------------------------------------------------------------------
    def _cb_loop(self) -> None:
        while True:
            job = self._cb_queue.get()
            if job is None:
                return
            try:
                self._run_callbacks(*job)
            finally:
                with self._cb_cond:
                    self._cb_pending -= 1
                    self._cb_cond.notify_all()

    def _run_callbacks(self, sid: str, final: str, err_code: int | None) -> None:
        if final == "failed":
            steps: list[tuple[str, int | None]] = [("queued", None), ("failed", err_code)]
        else:
            steps = [("queued", None), ("sent", None), (final, err_code)]
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

    def sign(self, url: str, params: dict[str, str]) -> str:
        """X-Twilio-Signature for a POST of ``params`` to ``url``, exactly as Twilio computes it."""
        return self._validator.compute_signature(url, params)

    def post_signed(self, url: str, params: dict[str, str]) -> int | None:
        """POST a form-encoded, signed webhook. Returns the HTTP status, or None on error.
        Errors are swallowed and counted in ``callback_errors``. Also usable to simulate
        inbound SMS webhooks from tests."""
        data = urllib.parse.urlencode(params).encode()
        req = urllib.request.Request(  # noqa: S310 - URL comes from the application under test
            url,
            data=data,
            method="POST",
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "User-Agent": "TwilioProxy/1.1",
                "X-Twilio-Signature": self.sign(url, params),
                "I-Twilio-Idempotency-Token": str(uuid.uuid4()),
            },
        )
        status: int | None = None
        error: str | None = None
        started = time.time()
        try:
            with urllib.request.urlopen(req, timeout=self.callback_timeout) as resp:  # noqa: S310
                resp.read()
                status = resp.status
        except urllib.error.HTTPError as exc:
            status, error = exc.code, f"HTTP {exc.code}"
            exc.close()
        except (OSError, ValueError) as exc:
            error = repr(exc)
        with self._lock:
            if error is None:
                self.callbacks_sent += 1
            else:
                self.callback_errors += 1
            self.callback_log.append(
                {"url": url, "params": params, "status": status, "error": error, "at": time.time(),
                 "took": time.time() - started}
            )
        return status if error is None else None

    # -- admin ---------------------------------------------------------------------------------
    def _admin(self, method: str, path: str, query: str, body: bytes) -> tuple[int, Any]:
        args = {k: v[-1] for k, v in urllib.parse.parse_qs(query).items()}
        try:
            data = json.loads(body) if body.strip() else {}
        except ValueError:
            return 400, {"error": "body must be JSON"}
        if method == "GET" and path == "/_fake/messages":
            return 200, self.messages
        if method == "GET" and path == "/_fake/calls":
            return 200, self.calls
        if method == "GET" and path == "/_fake/stats":
            return 200, self.stats(float(args.get("window", 1.0)))
        if method == "GET" and path == "/_fake/callbacks":
            with self._lock:
                return 200, list(self.callback_log)
        if method == "GET" and path == "/_fake/config":
            return 200, self.config()
        if method == "POST" and path == "/_fake/receive":
            return 200, {"sid": self.receive(data["from"], data["to"], data["body"])}
        if method == "POST" and path == "/_fake/reply":
            return 200, {"sid": self.reply(data["to"], data["from"], data["body"], data.get("action"))}
        if method == "GET" and path == "/_fake/deletes":
            return 200, self.deletes
        if method == "GET" and path == "/_fake/held":
            return 200, self.held()
        if method == "POST" and path == "/_fake/reset":
            self.reset(config=bool(data.get("config", False)))
            return 200, {"ok": True}
        if method == "POST" and path == "/_fake/config":
            try:
                self.configure(**data)
            except (TypeError, ValueError, AttributeError) as exc:
                return 400, {"error": repr(exc)}
            return 200, self.config()
        return 404, {"error": f"no admin route {method} {path}"}


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.fake_twilio", description=__doc__.split("\n")[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--latency-ms", type=float, default=0.0)
    p.add_argument("--account-sid", default=DEFAULT_ACCOUNT_SID)
    p.add_argument("--auth-token", default=DEFAULT_AUTH_TOKEN)
    p.add_argument("--callbacks", action="store_true", help="send signed status callbacks")
    p.add_argument("--callback-workers", type=int, default=4, help="status callbacks sent at once")
    p.add_argument("--callback-timeout", type=float, default=2.0, help="seconds before a callback fails")
    p.add_argument("--verbose", action="store_true", help="log every request")
    a = p.parse_args(argv)

    fake = FakeTwilio(
        account_sid=a.account_sid,
        auth_token=a.auth_token,
        latency=a.latency_ms / 1000.0,
        port=a.port,
        callbacks=a.callbacks,
        callback_workers=a.callback_workers,
        callback_timeout=a.callback_timeout,
        verbose=a.verbose,
    ).start()
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    print(f"listening on {fake.url}", flush=True)
    try:
        while not done.wait(0.5):
            pass
    finally:
        fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
