"""Alert fan-out benchmark: a 10,000-member alert through real RQ workers to a loopback fake Twilio.

    python -m bench.alert_fanout [--members 10000] [--workers 2] [--rate 50] [--database-url URL]

Reports, with the targets from issue 3:
  (a) messages/s, zero-latency fake, rate limit off, and its ratio to a bare loop calling the
      twilio client from the same number of processes            target ratio >= 0.8
  (b) messages/s with 100 ms latency per API call                   target >= 500
  (c) worker peak memory (VmHWM)                                      target < 200 MB
  (d) report webhook -> first layer-1 send at the provider, p50      target < 300 ms
  (e) with the limiter at N segments/s: the most sent in any 1-s window never exceeds N and the
      mean rate is >= 0.95 N
The fake runs in its own process; times are the fake's arrival times.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from werkzeug.serving import make_server

from bench.stack import reset_postgres

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT_SID = "AC" + "b" * 32
AUTH_TOKEN = "bench-token-0123456789abcdef0123"
FROM = "+12125550000"

TREES = """
default_tree = "bench"

[trees.bench]
keywords = ["BENCH"]
[[trees.bench.layers]]
name = "everyone"
quorum = 100000
wait_seconds = 3600

[trees.quick]
keywords = ["QUICK"]
[[trees.quick.layers]]
name = "verifiers"
verifies = true
quorum = 1
wait_seconds = 3600
next_waits_for_confirmation = true
[[trees.quick.layers]]
name = "responders"
quorum = 3
wait_seconds = 3600

[trees.rate]
keywords = ["RATE"]
[[trees.rate.layers]]
name = "everyone"
quorum = 100000
wait_seconds = 3600
"""


class Fake:
    """The fake Twilio in its own process, driven through its admin API."""

    def __init__(self, *options: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.fake_twilio", "--account-sid", ACCOUNT_SID, "--auth-token", AUTH_TOKEN,
             *options],
            cwd=ROOT, stdout=subprocess.PIPE, text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        self.url = line.strip().rsplit(" ", 1)[-1]

    def admin(self, path: str, data: dict[str, Any] | None = None) -> Any:
        request = urllib.request.Request(self.url + path, method="POST" if data is not None else "GET",
                                         data=json.dumps(data).encode() if data is not None else None)
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - loopback
            return json.loads(response.read())

    def count(self) -> int:
        return int(self.admin("/_fake/stats")["count"])

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def bare_loop(fake_url: str, n: int, start: Any, out: Any) -> None:
    from twilio.rest import Client

    from bench.fake_twilio import RedirectingHttpClient

    client = Client(ACCOUNT_SID, AUTH_TOKEN, http_client=RedirectingHttpClient(fake_url))
    start.wait()
    t0 = time.time()
    for i in range(n):
        client.messages.create(to=f"+1646555{i % 10000:04d}", from_=FROM, body=f"bare loop {i}")
    out.put((t0, time.time()))


def measure_bare_loop(fake: Fake, processes: int, total: int) -> float:
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=bare_loop, args=(fake.url, total // processes, start, out)) for _ in range(processes)]
    for p in procs:
        p.start()
    time.sleep(2)  # let them import
    start.set()
    spans = [out.get(timeout=600) for _ in procs]
    for p in procs:
        p.join()
    return total / (max(e for _, e in spans) - min(s for s, _ in spans))


class Bench:
    def __init__(self, args: argparse.Namespace, trees: str = TREES, fake_options: tuple[str, ...] = (),
                 settings: dict[str, str] | None = None) -> None:
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="rr-bench-"))
        (self.tmp / "trees.toml").write_text(trees, encoding="utf-8")
        self.fake = Fake(*fake_options)
        self._server = make_server("127.0.0.1", 0, lambda e, s: self.app(e, s), threaded=True)
        self.env = {
            "SECRET_KEY": "bench-secret-key-0123456789",
            "DATA_KEY": Fernet.generate_key().decode(),
            "DATABASE_URL": args.database_url or f"sqlite:///{self.tmp / 'bench.sqlite3'}",
            "REDIS_URL": args.redis_url,
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{self._server.server_port}",
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_FROM_NUMBER": FROM,
            "TWILIO_API_BASE_URL": self.fake.url,
            "TREES_FILE": str(self.tmp / "trees.toml"),
            "QUEUE_PREFIX": f"bench-{uuid.uuid4().hex[:8]}:",
            "SEND_RATE_SEGMENTS_PER_SECOND": "0",
            "ALERT_VALIDITY_SECONDS": "3600",
            # Deletes would shrink the fake's count mid-measurement; bench.provider_deletes measures them.
            "PROVIDER_DELETE": "off",
            "LOG_LEVEL": "WARNING",
            **(settings or {}),  # the web app's and every worker's
        }
        os.environ.update(self.env)
        from rapidresponse import create_app
        from rapidresponse.cli import db_upgrade
        from rapidresponse.services import build_services
        from rapidresponse.settings import Settings

        if args.database_url and args.database_url.startswith("postgres"):
            reset_postgres(args.database_url)
        settings = Settings.from_env(self.env)
        db_upgrade(settings.database_url)
        self.svc = build_services(settings)
        self.app = create_app(services=self.svc)
        self.client = self.app.test_client()
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.workers: list[subprocess.Popen[bytes]] = []

    def add_members(self, n: int) -> None:
        from bench.seeding import seed_members

        places: list[dict[str, int]] = [{"bench": 1} for _ in range(n)]
        for i in range(min(n, self.args.rate * 12)):
            places[i]["rate"] = 1
        for k in range(min(n, 10)):
            places[k]["quick"] = 1 if k < 3 else 2
        phones = [f"+1212{5550000 + i:07d}" if i < 10000 else f"+1718{5550000 + i:07d}" for i in range(n)]
        seed_members(self.svc, phones, places, ["es" if i % 3 == 0 else "en" for i in range(n)])

    def start_workers(self, **overrides: str) -> None:
        self.stop_workers()
        env = {**os.environ, **self.env, **overrides}
        for _ in range(self.args.workers):
            self.workers.append(subprocess.Popen([sys.executable, "-m", "workers.worker"], cwd=ROOT, env=env))
        time.sleep(2.5)  # imports and Redis registration

    def stop_workers(self) -> None:
        for w in self.workers:
            w.terminate()
        for w in self.workers:
            w.wait(timeout=30)
        self.workers = []

    def peak_memory_mb(self) -> float:
        peaks = []
        for w in self.workers:
            status = Path(f"/proc/{w.pid}/status").read_text()
            line = next(x for x in status.splitlines() if x.startswith("VmHWM"))
            peaks.append(int(line.split()[1]) / 1024)
        return max(peaks)

    def report(self, body: str, sender: str = "+13105550100") -> float:
        from twilio.request_validator import RequestValidator

        params = {"MessageSid": "SM" + uuid.uuid4().hex, "From": sender, "To": FROM, "Body": body,
                  "AccountSid": ACCOUNT_SID}
        url = self.env["PUBLIC_BASE_URL"] + "/twilio/sms"
        t0 = time.time()
        # buffered: the response is closed once read, as a server closes it once sent, which is
        # when the webhook queues the report's work (webhooks.routes.queue_once_answered).
        response = self.client.post("/twilio/sms", data=params, buffered=True, headers={
            "X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(url, params)})
        assert response.status_code == 200, response.data
        return t0

    def wait_for(self, count: int, timeout: float = 600) -> None:
        deadline = time.time() + timeout
        while self.fake.count() < count:
            if time.time() > deadline:
                raise SystemExit(f"timed out: {self.fake.count()} of {count} sent")
            time.sleep(0.2)

    def fanout(self, n: int, latency: float) -> float:
        self.fake.admin("/_fake/reset", {})
        self.fake.admin("/_fake/config", {"latency": latency})
        t0 = self.report("BENCH fan-out test alert")
        self.wait_for(n)
        times = sorted(m["received_at"] for m in self.fake.admin("/_fake/messages"))
        return n / (times[-1] - t0)

    def first_send_latency(self, runs: int) -> list[float]:
        self.fake.admin("/_fake/config", {"latency": 0.0})
        out = []
        for i in range(runs):
            self.fake.admin("/_fake/reset", {})
            t0 = self.report(f"QUICK latency probe {i}", sender=f"+1310555{i % 10000:04d}")
            deadline = time.time() + 30
            while self.fake.count() == 0 and time.time() < deadline:
                time.sleep(0.005)
            first = min(m["received_at"] for m in self.fake.admin("/_fake/messages"))
            out.append(first - t0)
            time.sleep(0.1)
        return out

    def limited(self, rate: int) -> dict[str, float]:
        n = rate * 12
        self.fake.admin("/_fake/reset", {})
        self.report("RATE limiter test")
        self.wait_for(n)
        stats = self.fake.admin("/_fake/stats?window=1.0")
        messages = self.fake.admin("/_fake/messages")
        times = sorted(m["received_at"] for m in messages)
        if os.environ.get("BENCH_DUMP"):
            Path(os.environ["BENCH_DUMP"]).write_text(json.dumps(messages))
        return {"max_in_any_1s": stats["max_in_any_window"], "mean_per_s": (n - 1) / (times[-1] - times[0])}

    def close(self) -> None:
        self.stop_workers()
        self.fake.stop()
        self._server.shutdown()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=10000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rate", type=int, default=50, help="N for (e), segments per second")
    parser.add_argument("--latency-runs", type=int, default=30)
    parser.add_argument("--only-rate", action="store_true", help="run (e) alone")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", ""))
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    args = parser.parse_args()

    bench = Bench(args)
    results: dict[str, Any] = {"members": args.members, "workers": args.workers,
                               "database": "postgresql" if args.database_url.startswith("postgres") else "sqlite"}
    try:
        bench.add_members(args.members)
        if args.only_rate:
            bench.start_workers(SEND_RATE_SEGMENTS_PER_SECOND=str(args.rate))
            print(json.dumps(bench.limited(args.rate)))
            return 0
        bench.start_workers()
        bench.fanout(200, 0.0)  # warm-up: imports, connections, caches
        results["a_msgs_per_s"] = bench.fanout(args.members, 0.0)
        results["a_bare_loop_msgs_per_s"] = measure_bare_loop(bench.fake, args.workers, args.members)
        results["a_ratio"] = results["a_msgs_per_s"] / results["a_bare_loop_msgs_per_s"]
        results["b_msgs_per_s_100ms"] = bench.fanout(args.members, 0.1)
        results["c_worker_peak_mb"] = bench.peak_memory_mb()
        latencies = bench.first_send_latency(args.latency_runs)
        results["d_first_send_p50_ms"] = statistics.median(latencies) * 1000
        results["d_first_send_p90_ms"] = statistics.quantiles(latencies, n=10)[-1] * 1000
        bench.start_workers(SEND_RATE_SEGMENTS_PER_SECOND=str(args.rate))
        limited = bench.limited(args.rate)
        results["e_rate_limit"] = args.rate
        results["e_max_in_any_1s"] = limited["max_in_any_1s"]
        results["e_mean_per_s"] = limited["mean_per_s"]
        results["e_mean_ratio"] = limited["mean_per_s"] / args.rate
    finally:
        bench.close()
    print(json.dumps(results, indent=2))
    targets = [
        ("(a) ratio to bare loop >= 0.8", results["a_ratio"] >= 0.8),
        ("(b) >= 500 msgs/s at 100 ms", results["b_msgs_per_s_100ms"] >= 500),
        ("(c) worker peak < 200 MB", results["c_worker_peak_mb"] < 200),
        ("(d) p50 first send < 300 ms", results["d_first_send_p50_ms"] < 300),
        ("(e) max in any 1 s <= N", results["e_max_in_any_1s"] <= args.rate),
        ("(e) mean >= 0.95 N", results["e_mean_ratio"] >= 0.95),
    ]
    for name, ok in targets:
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    return 0 if all(ok for _, ok in targets) else 1


if __name__ == "__main__":
    sys.exit(main())
