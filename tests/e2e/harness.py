"""An end-to-end stack: the web app on a real port, real RQ workers in subprocesses, the loopback
fake Twilio (which signs its status callbacks), a migrated SQLite database and the real Redis."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from werkzeug.serving import make_server

from bench.fake_twilio import FakeTwilio
from rapidresponse import create_app
from rapidresponse.cli import db_upgrade
from rapidresponse.services import Services, build_services
from rapidresponse.settings import Settings
from tests.conftest import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    FROM_NUMBER,
    REDIS_URL,
    AnsweredClient,
    add_member,
    clear_queues,
)

ROOT = Path(__file__).resolve().parents[2]

FAST_TREES = """
default_tree = "ice"

[trees.ice]
keywords = ["ICE", "MIGRA"]
voice_key = "1"

[[trees.ice.layers]]
name = "verifiers"
verifies = true
quorum = 1
wait_seconds = {verify_wait}
next_waits_for_confirmation = true

[[trees.ice.layers]]
name = "rapid responders"
quorum = 2
wait_seconds = {wait}

[[trees.ice.layers]]
name = "supporters"
quorum = 5
wait_seconds = {wait}

[trees.eviction]
keywords = ["EVICTION"]
voice_key = "2"

[[trees.eviction.layers]]
name = "defenders"
quorum = 2
wait_seconds = {wait}
"""


def wait_until(predicate: Callable[[], Any], timeout: float = 90.0, interval: float = 0.05) -> Any:
    """Wait for something to happen. The deadline is generous on purpose: it only bounds a failure
    on a loaded machine; tests assert on what happened, never on how soon (speed lives in bench/)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {getattr(predicate, '__name__', predicate)}")
        time.sleep(interval)


class Stack:
    def __init__(self, tmp_path: Path, *, latency: float = 0.0, callbacks: bool = True, wait: float = 2.0,
                 verify_wait: float = 1.0, play_calls: bool = False, **env_overrides: str) -> None:
        # play_calls: every call the app places rings at the fake and is played against this stack.
        self.fake = FakeTwilio(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, latency=latency,
                               callbacks=callbacks, play_calls=play_calls).start()
        trees = tmp_path / "trees.toml"
        trees.write_text(FAST_TREES.format(wait=wait, verify_wait=verify_wait), encoding="utf-8")
        self._server = make_server("127.0.0.1", 0, lambda e, s: self.app(e, s), threaded=True)
        port = self._server.server_port
        self.env = {
            "SECRET_KEY": "e2e-secret-key-0123456789",
            "DATA_KEY": Fernet.generate_key().decode(),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'e2e.sqlite3'}",
            "REDIS_URL": REDIS_URL,
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_FROM_NUMBER": FROM_NUMBER,
            "TWILIO_API_BASE_URL": self.fake.url,
            "TREES_FILE": str(trees),
            "QUEUE_PREFIX": f"e2e-{uuid.uuid4().hex[:8]}:",
            "SEND_RATE_SEGMENTS_PER_SECOND": "0",
            "SWEEP_INTERVAL_SECONDS": "0.3",
            "SEND_LEASE_SECONDS": "3",
            "SEND_TIMEOUT_SECONDS": "2",
            "LOG_LEVEL": "WARNING",
        }
        self.env.update(env_overrides)
        self.settings = Settings.from_env(self.env)
        db_upgrade(self.settings.database_url)
        self.svc: Services = build_services(self.settings)
        self.app = create_app(services=self.svc)
        self.app.test_client_class = AnsweredClient
        self.client = self.app.test_client()
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.workers: list[subprocess.Popen[bytes]] = []
        self._logs: list[Path] = []
        self._tmp = tmp_path

    @property
    def url(self) -> str:
        return self.settings.public_base_url

    def start_worker(self) -> subprocess.Popen[bytes]:
        log = self._tmp / f"worker-{len(self.workers)}.log"
        self._logs.append(log)
        env = dict(os.environ, **self.env)
        with log.open("wb") as out:
            # Its own process group: RQ's scheduler runs in a child process, which must go with it.
            process = subprocess.Popen([sys.executable, "-m", "workers.worker"], cwd=ROOT, env=env,
                                       stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.workers.append(process)
        return process

    def worker_logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self._logs if p.exists())

    def member(self, phone: str, **kwargs: Any) -> int:
        return add_member(self.svc, phone, **kwargs)

    def text(self, phone: str, body: str) -> str:
        """Text the system as Twilio would: stored at the fake Twilio, delivered signed to the web
        server, and the TwiML answer sent back (with its status callbacks) as Twilio sends it."""
        from xml.etree import ElementTree

        from tests.conftest import twiml_text

        sid = self.fake.receive(phone, FROM_NUMBER, body)
        params = {"MessageSid": sid, "From": phone, "To": FROM_NUMBER, "Body": body, "AccountSid": ACCOUNT_SID}
        response = self.client.post("/twilio/sms", data=params, headers={
            "X-Twilio-Signature": self.fake.sign(self.url + "/twilio/sms", params)})
        assert response.status_code == 200, response.data
        for message in ElementTree.fromstring(response.data).iter("Message"):
            self.fake.reply(phone, FROM_NUMBER, message.text or "", action=message.get("action"))
        return twiml_text(response.data)

    def call_hotline(self, phone: str, script: list[Any]) -> dict[str, Any]:
        """Call the hotline as Twilio would put a caller through: signed requests to /twilio/voice
        and the URLs its TwiML names, the caller following `script` (bench/fake_twilio/voice.py),
        then the number's status callback. Returns the fake's record of the call."""
        return self.fake.incoming_call(phone, FROM_NUMBER, self.url + "/twilio/voice", script,
                                       status_callback=self.url + "/twilio/voice?step=ended")

    def received(self, phone: str) -> list[str]:
        return [m["body"] for m in self.fake.sent_to(phone)]

    @staticmethod
    def signal_worker(process: subprocess.Popen[bytes], sig: int) -> None:
        """Signal a worker and its scheduler child (one process group)."""
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass

    def close(self) -> None:
        for process in self.workers:
            self.signal_worker(process, signal.SIGTERM)
        for process in self.workers:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.signal_worker(process, signal.SIGKILL)
                process.wait()
        self._server.shutdown()
        self.fake.stop()
        clear_queues(self.svc.redis, self.settings.queue_prefix)
        self.svc.redis.close()
        self.svc.db.engine.dispose()
