"""The HTTP server and the ``FakeTwilio`` object that the resources (messages, calls, callbacks,
admin) are mixed into: lifecycle, authentication and routing.

Notes that matter for measurements:

* The handler sets ``disable_nagle_algorithm``: http.server answers in two writes, and without
  TCP_NODELAY every keep-alive request waits ~40 ms for a delayed ACK.
* ``request_queue_size`` is raised from 5 so that bursts of new connections are not dropped
  (a dropped SYN costs a 1-s retransmit, which would poison any rate measurement).
* ``block_on_close`` is off: clients keep idle keep-alive connections open, and ``stop()`` would
  otherwise wait for them forever. ``stop()`` shuts those sockets down instead.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bench.fake_twilio.admin import AdminMixin
from bench.fake_twilio.callbacks import CallbacksMixin
from bench.fake_twilio.calls import CallsMixin
from bench.fake_twilio.common import (
    DEFAULT_ACCOUNT_SID,
    DEFAULT_AUTH_TOKEN,
    Answer,
    last_values,
    not_found,
    twilio_error,
)
from bench.fake_twilio.messages import MessagesMixin
from bench.fake_twilio.recordings import RecordingsMixin
from bench.fake_twilio.voice import VoiceMixin


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
        if isinstance(payload, bytes | bytearray):  # media (a recording), sent as is
            body = bytes(payload)
        else:
            body = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        if payload is not None and "Content-Type" not in (headers or {}):
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


_ACCOUNT_RE = re.compile(r"^/2010-04-01/Accounts/(?P<acct>[^/]+)/(?P<rest>.+)$")


class FakeTwilio(MessagesMixin, VoiceMixin, CallsMixin, RecordingsMixin, CallbacksMixin, AdminMixin):
    """Loopback Twilio REST fake. All public attributes are safe to change while serving.

    ``play_calls`` (off by default) makes every call placed through the API ring and be played
    against the application, as ``voice`` describes; off, a call is only recorded (queued)."""

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
        play_calls: bool = False,
    ) -> None:
        self.account_sid = account_sid
        self._sleeper = sleep  # tests hand in a recorder: latency is checked, not timed
        self.auth_token = auth_token
        self.port = port
        self.verbose = verbose
        self._defaults = {"latency": float(latency), "callbacks": bool(callbacks), "play_calls": bool(play_calls)}
        self._lock = threading.RLock()
        self._expected_auth = "Basic " + base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode(
            "ascii"
        )
        # configuration (runtime-settable)
        self.latency = float(latency)
        self.callbacks = bool(callbacks)
        self.callback_delay = 0.0  # seconds before each status callback
        self.callback_shuffle = False  # send each message's callbacks in random order
        self.callback_queued = True  # False: only sent and the final status, no `queued` callback
        self.hang_every = 0  # every Nth accepted message is answered hang_seconds late (0: none)
        self.hang_seconds = 0.0
        self._init_callbacks(auth_token, callback_workers, callback_timeout)
        self._init_messages()
        self._init_calls()
        self._init_voice(bool(play_calls))
        self._init_recordings()
        # machinery
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._conns: set[socket.socket] = set()

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
            self._start_callbacks(self.port)
        return self

    def stop(self) -> None:
        with self._lock:
            server, thread = self._server, self._thread
            self._server, self._thread = None, None
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
        workers = self._stop_callbacks()
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

    # -- API -----------------------------------------------------------------------------------
    def _api(self, method: str, path: str, query: str, body: bytes, authorization: str | None) -> Answer:
        """Returns (status, payload, headers, after_response_callable)."""
        received_at = time.time()
        m = _ACCOUNT_RE.match(path)
        if m is None:
            return not_found(path)
        if not self._authorized(authorization):
            self._sleep()
            return 401, twilio_error(20003, 401), {"WWW-Authenticate": 'Basic realm="Twilio API"'}, None
        if m["acct"] != self.account_sid:
            self._sleep()
            return not_found(path)
        rest = m["rest"]
        form = last_values(body.decode())
        multi = urllib.parse.parse_qs(body.decode(), keep_blank_values=True)
        args = last_values(query)
        for resource in (self._messages_api, self._calls_api, self._recordings_api):
            answer = resource(method, rest, path, form, args, received_at, multi)
            if answer is not None:
                return answer
        self._sleep()
        return not_found(path)

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
