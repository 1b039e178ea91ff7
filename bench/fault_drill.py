"""Fault drills against the whole stack: real RQ workers, a Redis of the drill's own, the loopback
fake Twilio in its own process, SQLite.

    python -m bench.fault_drill [--members 1000] [--workers 2] [--only kill-worker,redis-outage]

Each drill sends one alert to every member while something goes wrong, waits until nothing is
left to send (and a lease longer, so a late duplicate would show), then prints what the fake
Twilio received: sent (members reached) / expected / duplicates / misses, and the seconds from
the report until 99% of the members had their text and until the last one did.

  baseline        nothing goes wrong (the time to compare with)
  kill-worker     one worker is killed with SIGKILL (the process alone) at 30% of the alert;
                  a new one is started
  redis-outage    Redis is stopped for 10 s at 20% of the alert, then started again, empty
  error-storm     the first 30% of sends are refused (429, 500, 503); 2 numbers are opted out
                  (21610) and 2 invalid (21211): these are not expected, and must be tried once
  hanging-sends   1 send in 100 is accepted but answered only after 15 s (past SEND_TIMEOUT_SECONDS)
  rate-limited    3 workers sharing a 10 segments/s limit with a 12 s lease (at most 600 members)

Needs `redis-server` on the PATH. Workers run with SEND_LEASE_SECONDS=15 so that recovery from
a dead worker fits in a drill (the shipped lease is 120 s).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench.alert_fanout import Bench

LEASE = 15
DRILL_ENV = {"SEND_LEASE_SECONDS": str(LEASE), "SEND_TIMEOUT_SECONDS": "5", "SWEEP_INTERVAL_SECONDS": "1",
             "ALERT_BATCH_SIZE": "100", "SEND_CONCURRENCY": "20"}


class OwnRedis:
    """A Redis the drill can stop and start (it comes back empty, as after a restart without disk)."""

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        from redis import Redis

        client = Redis.from_url(self.url)
        for _ in range(100):
            try:
                client.ping()
                break
            except Exception:  # noqa: BLE001 - not up yet
                time.sleep(0.05)
        client.close()

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


@dataclass
class Result:
    drill: str
    expected: int
    sent: int
    duplicates: int
    misses: int
    seconds: float
    to_99pct: float  # seconds from the report until 99% of the expected members had their text
    note: str = ""


class Stack(Bench):
    """One alert's world: a fresh database, fake Twilio, web app and workers on the drill's Redis."""

    def __init__(self, members: int, workers: int, redis: OwnRedis, latency: float) -> None:
        super().__init__(argparse.Namespace(database_url="", redis_url=redis.url, workers=workers, rate=0))
        self.members = members
        self.add_members(members)
        self.fake.admin("/_fake/config", {"latency": latency})
        self.phones = [f"+1212{5550000 + i:07d}" for i in range(members)]

    def start(self, **env: str) -> None:
        self.start_workers(**DRILL_ENV, **env)

    def start_one(self, **env: str) -> subprocess.Popen[bytes]:
        process = subprocess.Popen([sys.executable, "-m", "workers.worker"], cwd=Path(__file__).parent.parent,
                                   env={**os.environ, **self.env, **DRILL_ENV, **env})
        self.workers.append(process)
        return process

    def alert(self) -> float:
        return self.report("BENCH fault drill alert")

    def wait_sent(self, fraction: float, timeout: float = 120) -> None:
        deadline = time.time() + timeout
        while self.fake.count() < self.members * fraction and time.time() < deadline:
            time.sleep(0.05)

    def unfinished(self) -> int:
        from rapidresponse.messaging.models import OutboundMessage

        try:
            with self.svc.db.session() as session:
                return int(session.scalar(select(func.count()).select_from(OutboundMessage).where(
                    OutboundMessage.status.in_(["pending", "sending"]))) or 0)
        except Exception:  # noqa: BLE001 - SQLite busy for a moment: ask again
            return -1

    def settle(self, started: float, expected: set[str], timeout: float = 300) -> tuple[list[dict[str, Any]], float]:
        """Wait until every expected member has a text and nothing is left to send, then a lease more."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            reached = {m["to"] for m in self.fake.admin("/_fake/messages")}
            if reached >= expected and self.unfinished() == 0:
                break
            time.sleep(0.5)
        messages = self.fake.admin("/_fake/messages")
        last = max((m["received_at"] for m in messages), default=started)
        time.sleep(LEASE + 2)  # a late duplicate would arrive now
        return self.fake.admin("/_fake/messages"), last - started

    def result(self, drill: str, started: float, expected: set[str] | None = None, note: str = "") -> Result:
        expected = set(self.phones) if expected is None else expected
        messages, seconds = self.settle(started, expected)
        per_number = Counter(m["to"] for m in messages)
        reached = expected & set(per_number)
        duplicates = sum(count - 1 for count in per_number.values() if count > 1)
        firsts = sorted({m["to"]: m["received_at"] for m in reversed(messages) if m["to"] in expected}.values())
        k = math.ceil(0.99 * len(expected))
        to_99 = firsts[k - 1] - started if len(firsts) >= k else float("nan")
        return Result(drill, len(expected), len(reached), duplicates, len(expected) - len(reached), round(seconds, 1),
                      round(to_99, 1), note)


def baseline(stack: Stack, redis: OwnRedis) -> Result:
    stack.start()
    return stack.result("baseline", stack.alert())


def kill_worker(stack: Stack, redis: OwnRedis) -> Result:
    stack.start()
    started = stack.alert()
    stack.wait_sent(0.3)
    victim = stack.workers[0]
    os.kill(victim.pid, signal.SIGKILL)  # the worker alone: its scheduler child must go by itself
    victim.wait()
    at = stack.fake.count()
    stack.workers.remove(victim)
    stack.start_one()
    return stack.result("kill-worker", started, note=f"killed at {at} sent")


def redis_outage(stack: Stack, redis: OwnRedis) -> Result:
    stack.start()
    started = stack.alert()
    stack.wait_sent(0.2)
    redis.stop()
    time.sleep(10)
    redis.start()
    alive = sum(1 for w in stack.workers if w.poll() is None)
    return stack.result("redis-outage", started, note=f"{alive}/{len(stack.workers)} workers alive after")


def error_storm(stack: Stack, redis: OwnRedis) -> Result:
    refused = int(stack.members * 0.1)
    for status in (429, 500, 503):
        stack.fake.admin("/_fake/config", {"fail_next": {"n": refused, "status": status}})
    permanent = {stack.phones[-1]: 21610, stack.phones[-2]: 21610, stack.phones[-3]: 21211, stack.phones[-4]: 21211}
    stack.fake.admin("/_fake/config", {"fail_numbers": permanent})
    stack.start()
    started = stack.alert()
    result = stack.result("error-storm", started, expected=set(stack.phones) - set(permanent))
    from rapidresponse.messaging.models import OutboundMessage

    with stack.svc.db.session() as session:
        tries = list(session.scalars(select(OutboundMessage.attempts).where(
            OutboundMessage.status == "failed", OutboundMessage.error_code.in_([21610, 21211]))))
    result.note = f"{refused * 3} refusals; permanent numbers failed {len(tries)}/4, tried {sorted(tries)} times"
    return result


def hanging_sends(stack: Stack, redis: OwnRedis) -> Result:
    stack.fake.admin("/_fake/config", {"hang_every": 100, "hang_seconds": 15})
    stack.start()
    return stack.result("hanging-sends", stack.alert(), note="1 in 100 answered after 15 s")


def rate_limited(stack: Stack, redis: OwnRedis) -> Result:
    stack.start_workers(**{**DRILL_ENV, "SEND_RATE_SEGMENTS_PER_SECOND": "10", "SEND_LEASE_SECONDS": "12",
                           "SWEEP_INTERVAL_SECONDS": "0.5", "ALERT_BATCH_SIZE": "500"})
    return stack.result("rate-limited", stack.alert(), note="3 workers, 10/s, 12 s lease, sweep every 0.5 s")


DRILLS = {"baseline": baseline, "kill-worker": kill_worker, "redis-outage": redis_outage,
          "error-storm": error_storm, "hanging-sends": hanging_sends, "rate-limited": rate_limited}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per API call at the fake")
    parser.add_argument("--only", default="", help="comma-separated drills: " + ", ".join(DRILLS))
    args = parser.parse_args()
    if shutil.which("redis-server") is None:
        print("fault_drill: needs redis-server on the PATH", file=sys.stderr)
        return 2
    chosen = [name.strip() for name in args.only.split(",") if name.strip()] or list(DRILLS)
    unknown = [name for name in chosen if name not in DRILLS]
    if unknown:
        print(f"fault_drill: no such drill: {', '.join(unknown)}", file=sys.stderr)
        return 2
    redis = OwnRedis()
    redis.start()
    results: list[Result] = []
    try:
        for name in chosen:
            members = min(args.members, 600) if name == "rate-limited" else args.members
            workers = 3 if name == "rate-limited" else args.workers
            stack = Stack(members, workers, redis, args.latency)
            try:
                results.append(DRILLS[name](stack, redis))
            finally:
                stack.close()
            print(json.dumps(asdict(results[-1])), flush=True)
    finally:
        redis.stop()
    print(f"\n{'drill':<14} {'sent':>6} {'expected':>8} {'duplicates':>10} {'misses':>6} {'99% at s':>8} "
          f"{'last at s':>9}  note")
    for r in results:
        print(f"{r.drill:<14} {r.sent:>6} {r.expected:>8} {r.duplicates:>10} {r.misses:>6} {r.to_99pct:>8} "
              f"{r.seconds:>9}  {r.note}")
    return 0 if all(r.duplicates == 0 and r.misses == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
