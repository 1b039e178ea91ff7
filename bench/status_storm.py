"""Status-callback storm: members' inbound texts while a fan-out's callbacks arrive.

    python -m bench.status_storm [--members 5000] [--workers 2] [--probe-rate 5] [--status-port 5109]
                                 [--database-url URL]

Runs the shipped web line of the Procfile (gunicorn) on --port, RQ workers, and the loopback fake
Twilio sending signed status callbacks (queued, sent, delivered: three per text) from
--callback-workers threads at once, with Twilio's 15 s timeout. While a --members alert goes out,
a prober texts HELP from members at --probe-rate per second and times each answer. With
--status-port, callbacks go to a second web process (STATUS_CALLBACK_BASE_URL). Prints:
  inbound texts: p50 / p99 / max answer time, idle (before the alert) and during the storm
  status callbacks: p50 / p99 / max answer time, how many took longer than Twilio's 15 s
  how long after the last callback every text's status was in the database
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from bench.stack import ROOT, reset_postgres, serving, summary_ms

ACCOUNT_SID = "AC" + "c" * 32
AUTH_TOKEN = "storm-token-0123456789abcdef0123"
FROM = "+12125550000"
TREES = """
default_tree = "bench"

[trees.bench]
keywords = ["BENCH"]
[[trees.bench.layers]]
name = "everyone"
quorum = 100000
wait_seconds = 3600
"""


class Storm:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="rr-storm-"))
        (self.tmp / "trees.toml").write_text(TREES, encoding="utf-8")
        self.base = f"http://127.0.0.1:{args.port}"
        self.fake, self.fake_url = serving(
            "bench.fake_twilio", "--account-sid", ACCOUNT_SID, "--auth-token", AUTH_TOKEN,
            "--callbacks", "--callback-workers", str(args.callback_workers), "--callback-timeout", "15")
        self.env = {
            "SECRET_KEY": "storm-secret-key-0123456789",
            "DATA_KEY": Fernet.generate_key().decode(),
            "DATABASE_URL": args.database_url or f"sqlite:///{self.tmp / 'storm.sqlite3'}",
            "REDIS_URL": args.redis_url,
            "PUBLIC_BASE_URL": self.base,
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_FROM_NUMBER": FROM,
            "TWILIO_API_BASE_URL": self.fake_url,
            "TREES_FILE": str(self.tmp / "trees.toml"),
            "QUEUE_PREFIX": f"storm-{uuid.uuid4().hex[:8]}:",
            "SEND_RATE_SEGMENTS_PER_SECOND": "0",
            "ALERT_VALIDITY_SECONDS": "3600",
            "LOG_LEVEL": "WARNING",
            "PORT": str(args.port),
        }
        if args.status_port:
            # Status callbacks to a web process of their own (README: "Status callbacks").
            self.env["STATUS_CALLBACK_BASE_URL"] = f"http://127.0.0.1:{args.status_port}"
        os.environ.update(self.env)
        from rapidresponse.cli import db_upgrade
        from rapidresponse.services import build_services
        from rapidresponse.settings import Settings

        if args.database_url.startswith("postgres"):
            reset_postgres(args.database_url)
        settings = Settings.from_env(self.env)
        db_upgrade(settings.database_url)
        self.svc = build_services(settings)
        self.validator = RequestValidator(AUTH_TOKEN)
        self.processes: list[subprocess.Popen[bytes]] = []
        self.members: list[str] = []

    def add_members(self, n: int) -> None:
        from bench.seeding import seed_members

        self.members = [f"+1212{5550000 + i:07d}" for i in range(n)]
        seed_members(self.svc, self.members, [{"bench": 1} for _ in self.members])

    def web_command(self, port: int) -> list[str]:
        """The Procfile's web line, as shipped."""
        line = next(x for x in (ROOT / "Procfile").read_text().splitlines() if x.startswith("web:"))
        # Command-line flags override config/gunicorn.conf.py: this port, loopback, no access log.
        return [*shlex.split(line.split(":", 1)[1]), "--bind", f"127.0.0.1:{port}", "--access-logfile", "/dev/null"]

    def start(self) -> None:
        env = {**os.environ, **self.env}
        for port in [self.args.port] + ([self.args.status_port] if self.args.status_port else []):
            cmd = self.web_command(port)
            cmd[0] = str(Path(sys.executable).parent / cmd[0])
            self.processes.append(subprocess.Popen(cmd, cwd=ROOT, env=env))
        for _ in range(self.args.workers):
            self.processes.append(subprocess.Popen([sys.executable, "-m", "workers.worker"], cwd=ROOT, env=env))
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(self.base + "/healthz", timeout=1):  # noqa: S310 - loopback
                    break
            except OSError:
                time.sleep(0.2)
        time.sleep(2.5)  # workers: imports and Redis registration

    def post(self, path: str, params: dict[str, str]) -> tuple[int, float]:
        url = self.base + path
        request = urllib.request.Request(url, data=urllib.parse.urlencode(params).encode(), method="POST", headers={
            "X-Twilio-Signature": self.validator.compute_signature(url, params),
            "Content-Type": "application/x-www-form-urlencoded"})
        t0 = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - loopback
                response.read()
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        return status, time.perf_counter() - t0

    def text(self, sender: str, body: str) -> tuple[int, float]:
        return self.post("/twilio/sms", {"MessageSid": "SM" + uuid.uuid4().hex, "From": sender, "To": FROM,
                                         "Body": body, "AccountSid": ACCOUNT_SID, "NumMedia": "0"})

    def probe(self, stop: threading.Event, out: list[float], errors: list[int]) -> None:
        """Members texting HELP at a steady rate, each on its own thread (so one slow answer does not
        hide the ones behind it); each answer timed."""
        interval, i = 1.0 / self.args.probe_rate, 0
        next_at = time.perf_counter()
        sent: list[threading.Thread] = []

        def one(sender: str) -> None:
            status, took = self.text(sender, "HELP")
            if status == 200:
                out.append(took)
            else:
                errors.append(status)

        while not stop.is_set():
            thread = threading.Thread(target=one, args=(self.members[-1 - (i % 100)],), daemon=True)
            thread.start()
            sent.append(thread)
            i += 1
            next_at += interval
            time.sleep(max(0.0, next_at - time.perf_counter()))
        for thread in sent:
            thread.join(timeout=120)

    def fake_admin(self, path: str) -> Any:
        with urllib.request.urlopen(self.fake_url + path, timeout=120) as response:  # noqa: S310 - loopback
            return json.loads(response.read())

    def applied(self) -> int:
        from rapidresponse.messaging.models import OutboundMessage

        with self.svc.db.session() as session:
            return int(session.scalar(select(func.count()).select_from(OutboundMessage)
                                      .where(OutboundMessage.status == "delivered")) or 0)

    def run(self) -> dict[str, Any]:
        n = self.args.members
        idle: list[float] = []
        errors: list[int] = []
        stop = threading.Event()
        prober = threading.Thread(target=self.probe, args=(stop, idle, errors), daemon=True)
        prober.start()
        time.sleep(self.args.idle_seconds)
        stop.set()
        prober.join()
        during: list[float] = []
        stop = threading.Event()
        prober = threading.Thread(target=self.probe, args=(stop, during, errors), daemon=True)
        prober.start()
        t0 = time.time()
        status, _ = self.text("+13105550100", "BENCH storm test alert")
        assert status == 200
        deadline = t0 + self.args.timeout
        while time.time() < deadline:
            stats = self.fake_admin("/_fake/stats")
            if stats["count"] >= n and stats["callbacks_pending"] == 0:
                break
            time.sleep(0.5)
        last_callback = time.time()
        stop.set()
        prober.join()
        sent_at = self.fake_admin("/_fake/stats")
        while self.applied() < n and time.time() < deadline:
            time.sleep(0.2)
        all_applied = time.time()
        callbacks = self.fake_admin("/_fake/callbacks")
        took = [c["took"] for c in callbacks if c["error"] is None]
        return {
            "members": n, "workers": self.args.workers, "callback_workers": self.args.callback_workers,
            "status_pool": bool(self.args.status_port),
            "database": "postgresql" if self.args.database_url.startswith("postgres") else "sqlite",
            "inbound_idle": summary_ms(idle), "inbound_during_storm": summary_ms(during),
            "inbound_errors": errors,
            "callbacks": {**summary_ms(took), "errors": sent_at["callback_errors"],
                          "over_15s": sum(1 for c in callbacks if c["error"] or c["took"] > 15)},
            "texts_sent": sent_at["count"], "delivered_in_db": self.applied(),
            "alert_to_last_callback_s": round(last_callback - t0, 1),
            "statuses_all_applied_after_last_callback_s": round(all_applied - last_callback, 1),
        }

    def close(self) -> None:
        for p in self.processes:
            p.terminate()
        for p in self.processes:
            p.wait(timeout=30)
        self.fake.terminate()
        self.fake.wait(timeout=10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--callback-workers", type=int, default=32, help="callbacks the fake sends at once")
    parser.add_argument("--probe-rate", type=float, default=5.0, help="inbound texts per second")
    parser.add_argument("--idle-seconds", type=float, default=5.0)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--port", type=int, default=5108)
    parser.add_argument("--status-port", type=int, default=0,
                        help="run a second web process for status callbacks here (STATUS_CALLBACK_BASE_URL)")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", ""))
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    args = parser.parse_args()
    storm = Storm(args)
    try:
        storm.add_members(args.members)
        storm.start()
        results = storm.run()
    finally:
        storm.close()
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
