"""Voice benchmark: the hotline's answer time per step, and alert calls kept to CALLS_PER_SECOND
while texts keep their own rate.

    python -m bench.voice_calls [--callers 40] [--concurrency 4] [--voice-members 30]
                                [--sms-members 60] [--calls-per-second 2] [--texts-per-second 10]
                                [--workers 2] [--database-url URL] [--only hotline|calls]
                                [--caller-pace SECONDS] [--arrivals-per-second RATE]

Runs the shipped web line of the Procfile (gunicorn) on --port, RQ workers, and the loopback fake
Twilio in its own process (so its arrival times are not this process's), which plays every call as
Twilio would (signed requests to the TwiML's URLs), driven through its admin API. Prints JSON:

* ``hotline``: --callers calls to POST /twilio/voice, --concurrency at once, each one ringing,
  pressing 1 at the menu, speaking 20 s into the recording and hearing the code read back; every
  webhook answer timed at the fake (p50 / p99 / max per step and overall; target p99 < 50 ms).
  By default each caller answers every TwiML at once, so the callers keep the 2 cores busy and the
  figure is that of a saturated machine; --caller-pace S plays each second of the call (2 s a
  <Say>, 1 s a key, the recording's length) in S real seconds, spacing the requests as real calls
  do (0.05: 20 times faster than real calls). The JSON gives the calls per second either way.
  --concurrency callers who play the same script at the same pace stay in step: all of them post
  their recording in the same few milliseconds. --arrivals-per-second R starts each call at a
  random moment instead (a Poisson process of R calls a second, seeded), however many are on the
  line then, as independent callers do; with --caller-pace each call lasts as long as it would.
  Beside the web process: --workers RQ workers (one start_incident job per report; the bench's
  trees have no members, so no fan-out) and the fake playing --concurrency calls; the JSON gives
  the load average before and after, since other work on the machine moves the tail most, and
  the CPU each of web, workers and fake spent per call (steadier than the tail on a shared machine).
* ``calls``: a report alerting one layer of --voice-members members on voice and --sms-members on
  texts, with CALLS_PER_SECOND and SEND_RATE_SEGMENTS_PER_SECOND set: the most calls and texts
  the fake saw in any 1-s window (never above their limits) and their mean rates.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import shlex
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from twilio.request_validator import RequestValidator

from bench.fake_twilio import max_in_window, per_second
from bench.inbound_load import children
from bench.send_cpu import cpu_seconds
from bench.stack import ROOT, reset_postgres, serving, summary_ms

ACCOUNT_SID = "AC" + "d" * 32
AUTH_TOKEN = "voice-bench-token-0123456789abcd"
FROM = "+12125550000"
TREES = """
default_tree = "ice"
hotline_default_tree = "ice"

[trees.ice]
keywords = ["ICE"]
voice_key = "1"
[[trees.ice.layers]]
name = "verifiers"
verifies = true
quorum = 100000
wait_seconds = 3600

[trees.mixed]
keywords = ["MIXED"]
voice_key = "2"
[[trees.mixed.layers]]
name = "everyone"
quorum = 100000
wait_seconds = 3600
"""


class Fake:
    """The fake Twilio in its own process, playing calls, driven through its admin API."""

    def __init__(self) -> None:
        self.process, self.url = serving(
            "bench.fake_twilio", "--account-sid", ACCOUNT_SID, "--auth-token", AUTH_TOKEN,
            "--callbacks", "--play-calls", "--callback-workers", "8", "--callback-timeout", "15")

    def admin(self, path: str, data: Any = None) -> Any:
        request = urllib.request.Request(self.url + path, method="POST" if data is not None else "GET",
                                         data=json.dumps(data).encode() if data is not None else None)
        with urllib.request.urlopen(request, timeout=300) as response:  # noqa: S310 - loopback
            return json.loads(response.read())

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


class VoiceBench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="rr-voice-"))
        trees = TREES
        if importlib.util.find_spec("rapidresponse.hotline") is None:  # a checkout without the hotline
            trees = "\n".join(x for x in TREES.splitlines() if not x.startswith(("voice_key", "hotline_")))
        (self.tmp / "trees.toml").write_text(trees, encoding="utf-8")
        self.base = f"http://127.0.0.1:{args.port}"
        self.fake = Fake()
        self.env = {
            "SECRET_KEY": "voice-secret-key-0123456789",
            "DATA_KEY": Fernet.generate_key().decode(),
            "DATABASE_URL": args.database_url or f"sqlite:///{self.tmp / 'voice.sqlite3'}",
            "REDIS_URL": args.redis_url,
            "PUBLIC_BASE_URL": self.base,
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_FROM_NUMBER": FROM,
            "TWILIO_API_BASE_URL": self.fake.url,
            "TREES_FILE": str(self.tmp / "trees.toml"),
            "QUEUE_PREFIX": f"voice-{uuid.uuid4().hex[:8]}:",
            "SEND_RATE_SEGMENTS_PER_SECOND": str(args.texts_per_second),
            "CALLS_PER_SECOND": str(args.calls_per_second),
            "ALERT_VALIDITY_SECONDS": "3600",
            "LOG_LEVEL": "WARNING",
            "PORT": str(args.port),
        }
        os.environ.update(self.env)
        from rapidresponse.cli import db_upgrade
        from rapidresponse.services import build_services
        from rapidresponse.settings import Settings

        if args.database_url.startswith("postgres"):
            reset_postgres(args.database_url)
        settings = Settings.from_env(self.env)
        db_upgrade(settings.database_url)
        self.svc = build_services(settings)
        self.processes: list[subprocess.Popen[bytes]] = []

    def add_members(self, phones: list[str], tree: str, channel: str) -> None:
        from rapidresponse.members import registry
        from rapidresponse.members.models import MemberStatus

        now = datetime.now(UTC)
        with self.svc.db.session() as session:
            for phone in phones:
                member = registry.new_member(self.svc.cipher, phone, status=MemberStatus.ACTIVE,
                                             roles="member,responder", trees={tree: 1})
                member.consented_at, member.channel = now, channel
                session.add(member)

    def web_command(self) -> list[str]:
        """The Procfile's web line, as shipped (this port, loopback, no access log)."""
        line = next(x for x in (ROOT / "Procfile").read_text().splitlines() if x.startswith("web:"))
        return [*shlex.split(line.split(":", 1)[1]), "--bind", f"127.0.0.1:{self.args.port}",
                "--access-logfile", "/dev/null"]

    def start(self) -> None:
        env = {**os.environ, **self.env}
        cmd = self.web_command()
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

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far of the web (gunicorn master + workers), the RQ workers and the fake:
        they share the machine's cores, so each one's cost per call is what the others wait on."""
        master = self.processes[0].pid
        return {"web": sum(cpu_seconds(pid) for pid in [master, *children(master)]),
                "workers": sum(cpu_seconds(p.pid) for p in self.processes[1:]),
                "fake": cpu_seconds(self.fake.process.pid)}

    def hotline(self) -> dict[str, Any]:
        """Callers report by phone; each webhook answer is timed where Twilio would time it."""
        script = ["1", {"record": 20, "transcript": "two vans at the corner", "then": "#"}]

        def one(i: int) -> dict[str, Any]:
            return self.fake.admin("/_fake/calls/incoming", {
                "from": f"+1213{5550000 + i:07d}", "to": FROM, "url": self.base + "/twilio/voice", "script": script,
                "status_callback": self.base + "/twilio/voice?step=ended"})

        rate = self.args.arrivals_per_second
        with ThreadPoolExecutor(max(self.args.concurrency, 256 if rate else 0)) as pool:
            # Warm-up calls, one per caller thread: imports, connections, caches in every web thread.
            list(pool.map(one, range(10000, 10000 + self.args.concurrency)))
            self.fake.admin("/_fake/config", {"caller_seconds_per_second": self.args.caller_pace})
            logged = len(self.fake.admin("/_fake/callbacks"))
            cpu_before = self.cpu()
            started = time.perf_counter()
            if rate:
                calls = [f.result() for f in self.arrivals(pool, one, rate)]
            else:
                calls = list(pool.map(one, range(self.args.callers)))
            took = time.perf_counter() - started
            time.sleep(1.0)  # the last reports' start_incident jobs
            cpu = {name: (spent - cpu_before[name]) * 1000 / max(1, self.args.callers)
                   for name, spent in self.cpu().items()}
        by_step: dict[str, list[float]] = defaultdict(list)
        failures = 0

        def step_of(url: str) -> str:
            return urllib.parse.parse_qs(urllib.parse.urlsplit(url).query).get("step", ["greeting"])[0]

        for call in calls:
            for request in call["requests"]:
                by_step[step_of(request["url"])].append(request["took"])
                failures += request["status"] != 200
        for callback in self.fake.admin("/_fake/callbacks")[logged:]:  # the number's status callback: the call ended
            if "/twilio/voice" in callback["url"] and step_of(callback["url"]) == "ended":
                by_step["ended"].append(callback["took"])
                failures += callback["status"] not in (200, 204)
        every = [t for times in by_step.values() for t in times]
        return {"callers": len(calls), "concurrency": None if rate else self.args.concurrency,
                "arrivals_per_second": rate or None, "caller_pace": self.args.caller_pace,
                "calls_per_second": round(len(calls) / took, 1), "requests": len(every),
                "non_200": failures, "errors": sum(len(c["errors"]) for c in calls),
                "recorded": sum(1 for c in calls if c["recordings"]), "all_steps": summary_ms(every),
                "cpu_ms_per_call": {name: round(ms, 2) for name, ms in cpu.items()},
                "by_step": {step: summary_ms(times) for step, times in sorted(by_step.items())}}

    def arrivals(self, pool: ThreadPoolExecutor, one: Any, rate: float) -> list[Any]:
        """--callers calls, each started at its moment of a Poisson process of `rate` calls a
        second (seeded: the same moments every run), whoever else is on the line then: callers
        who call independently of each other, not --concurrency callers in lockstep."""
        moments = random.Random(9).expovariate
        futures, due, start = [], 0.0, time.perf_counter()
        for i in range(self.args.callers):
            time.sleep(max(0.0, start + due - time.perf_counter()))
            futures.append(pool.submit(one, i))
            due += moments(rate)
        return futures

    def calls(self) -> dict[str, Any]:
        """One alert to a layer of callers and texters: each kept to its own rate at the provider."""
        voice = [f"+1646{5550000 + i:07d}" for i in range(self.args.voice_members)]
        sms = [f"+1718{5550000 + i:07d}" for i in range(self.args.sms_members)]
        self.add_members(voice, "mixed", "voice")
        self.add_members(sms, "mixed", "sms")
        voice_set, sms_set = set(voice), set(sms)
        # Calls ring and are played unless --record-only: then the fake only records them, and its
        # arrival times carry none of the jitter of playing thirty calls in the same process.
        self.fake.admin("/_fake/config", {"play_calls": not self.args.record_only})
        sender = "+13105550100"
        params = {"MessageSid": "SM" + uuid.uuid4().hex, "From": sender, "To": FROM, "Body": "MIXED bench alert",
                  "AccountSid": ACCOUNT_SID}
        url = self.base + "/twilio/sms"
        request = urllib.request.Request(url, data=urllib.parse.urlencode(params).encode(), method="POST", headers={
            "X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(url, params),
            "Content-Type": "application/x-www-form-urlencoded"})
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - loopback
            assert response.status == 200
        deadline = time.time() + self.args.timeout
        while time.time() < deadline:
            calls = [c for c in self.fake.admin("/_fake/calls") if c["to"] in voice_set]
            texts = [m for m in self.fake.admin("/_fake/messages") if m["to"] in sms_set]
            if len(calls) >= len(voice) and len(texts) >= len(sms):
                break
            time.sleep(1.0)
        call_times = [c["received_at"] for c in calls]
        text_times = [m["received_at"] for m in texts]

        def min_gap_ms(times: list[float]) -> float:
            ordered = sorted(times)
            return round(min((b - a for a, b in zip(ordered, ordered[1:], strict=False)), default=0) * 1000, 1)

        def rate(times: list[float]) -> float:
            return round((len(times) - 1) / (max(times) - min(times)), 2) if len(times) > 1 else float("nan")

        return {"voice_members": len(voice), "sms_members": len(sms), "calls_played": not self.args.record_only,
                "calls_per_second_setting": self.args.calls_per_second,
                "texts_per_second_setting": self.args.texts_per_second,
                "calls_placed": len(call_times), "texts_sent": len(text_times),
                "calls_max_in_any_1s": max_in_window(call_times), "texts_max_in_any_1s": max_in_window(text_times),
                "calls_mean_per_s": rate(call_times), "texts_mean_per_s": rate(text_times),
                "calls_min_gap_ms": min_gap_ms(call_times), "texts_min_gap_ms": min_gap_ms(text_times),
                "calls_per_second_counts": per_second(call_times)}

    def close(self) -> None:
        for p in self.processes:
            p.terminate()
        for p in self.processes:
            p.wait(timeout=30)
        self.fake.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--callers", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--caller-pace", type=float, default=0.0,
                        help="real seconds per second of a call (what the caller hears, presses and says): "
                             "0, the default, answers each TwiML at once, so --concurrency callers keep the "
                             "machine busy; 0.05 plays a call 20 times faster than a real one")
    parser.add_argument("--arrivals-per-second", type=float, default=0.0,
                        help="calls start at random moments at this mean rate (a Poisson process), however "
                             "many are then on the line, instead of --concurrency callers one call after "
                             "another; with --caller-pace, so that each call lasts as a call does")
    parser.add_argument("--voice-members", type=int, default=30)
    parser.add_argument("--sms-members", type=int, default=60)
    parser.add_argument("--calls-per-second", type=float, default=2.0)
    parser.add_argument("--texts-per-second", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--port", type=int, default=5112)
    parser.add_argument("--only", choices=["hotline", "calls"], default=None)
    parser.add_argument("--record-only", action="store_true", help="the fake records calls without playing them")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", ""))
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    args = parser.parse_args()
    bench = VoiceBench(args)
    # What runs beside the web process, and how busy the machine was: on a shared machine the
    # load decides the tail more than the handler does (`--workers 0` leaves the web alone).
    results: dict[str, Any] = {"database": "postgresql" if args.database_url.startswith("postgres") else "sqlite",
                               "workers": args.workers, "load_average_before": os.getloadavg()[0]}
    try:
        bench.start()
        if args.only in (None, "hotline"):
            results["hotline"] = bench.hotline()
        if args.only in (None, "calls"):
            results["calls"] = bench.calls()
    finally:
        bench.close()
    results["load_average_after"] = os.getloadavg()[0]
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
