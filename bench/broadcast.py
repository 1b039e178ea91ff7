"""Broadcast benchmark: a 10,000-member broadcast at a 100 segments/s limit through real RQ workers
to the loopback fake Twilio, with a raid alert started in the middle of it.

    python -m bench.broadcast [--members 10000] [--rate 100] [--workers 2] [--database-url URL]

Reports:
  - the most segments the provider received in any 1-s window (all texts: the limit is shared)
                                                                       target <= rate
  - the broadcast's mean rate, first to last text                      target >= 0.9 rate
  - worker peak memory (VmHWM)                                         target < 200 MB
  - the raid alert's wait: report webhook -> its first text at the provider, started once a
    third of the broadcast is out                                       target < 2 s
  - every member got exactly one broadcast text
The fake runs in its own process; times are the fake's arrival times.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from typing import Any

from bench.alert_fanout import Bench

BROADCAST_EN = "Community meeting tonight at 7 at the library. Bring a neighbour."
BROADCAST_ES = "Reunion comunitaria hoy a las 7 en la biblioteca. Trae a un vecino."
RAID = "QUICK raid at the bakery on 5th"


def segments_in_windows(times_and_segments: list[tuple[float, int]], window: float = 1.0) -> int:
    """The most segments received in any `window`-second span (a sliding window over arrivals)."""
    events = sorted(times_and_segments)
    best = total = start = 0
    for end in range(len(events)):
        total += events[end][1]
        while events[end][0] - events[start][0] >= window:
            total -= events[start][1]
            start += 1
        best = max(best, total)
    return best


def start_broadcast(bench: Bench) -> int:
    """What the console's Send does: record the broadcast once, then queue its planning."""
    from rapidresponse.broadcasts import service as broadcasts
    from rapidresponse.broadcasts.service import Audience, Draft
    from rapidresponse.db import utcnow
    from rapidresponse.jobs import broadcasts as broadcast_jobs

    svc = bench.svc
    with svc.db.session() as session:
        created = broadcasts.create(session, svc.cipher, Draft({"en": BROADCAST_EN, "es": BROADCAST_ES},
                                                               Audience(places=("bench",))),
                                    key=os.urandom(16).hex(), coordinator_id=None, now=utcnow())
    broadcast_jobs.start(svc, created.broadcast_id)
    return created.broadcast_id


def run(args: argparse.Namespace) -> dict[str, Any]:
    bench = Bench(argparse.Namespace(members=args.members, workers=args.workers, rate=args.rate,
                                     database_url=args.database_url, redis_url=args.redis_url))
    results: dict[str, Any] = {"members": args.members, "rate": args.rate, "workers": args.workers,
                               "database": "postgresql" if args.database_url.startswith("postgres") else "sqlite"}
    try:
        bench.add_members(args.members)
        bench.start_workers(SEND_RATE_SEGMENTS_PER_SECOND=str(args.rate))
        bench.fake.admin("/_fake/reset", {})
        t0 = time.time()
        broadcast_id = start_broadcast(bench)
        results["broadcast_id"] = broadcast_id
        bench.wait_for(args.members // 3, timeout=args.members / args.rate * 3 + 60)
        t_report = bench.report(RAID)
        deadline = time.time() + 60
        alert_at = None
        while alert_at is None and time.time() < deadline:
            alert_at = min((m["received_at"] for m in bench.fake.admin("/_fake/messages") if "bakery" in m["body"]),
                           default=None)
            time.sleep(0.02)
        results["raid_alert_wait_s"] = None if alert_at is None else round(alert_at - t_report, 3)
        quick_alerts = 3  # the quick tree's verifiers (bench.alert_fanout.Bench.add_members)
        bench.wait_for(args.members + quick_alerts, timeout=args.members / args.rate * 3 + 120)
        messages = bench.fake.admin("/_fake/messages")
        casts = [m for m in messages if m["body"] in (BROADCAST_EN, BROADCAST_ES)]
        arrivals = sorted(m["received_at"] for m in casts)
        per_member = Counter(m["to"] for m in casts)
        results["broadcast_texts"] = len(casts)
        results["members_with_exactly_one"] = sum(1 for n in per_member.values() if n == 1)
        results["duplicates"] = sum(n - 1 for n in per_member.values() if n > 1)
        results["max_segments_in_any_1s"] = segments_in_windows([(m["received_at"], m["num_segments"])
                                                                 for m in messages])
        seg_total = sum(m["num_segments"] for m in casts)
        results["broadcast_segments"] = seg_total
        results["mean_segments_per_s"] = round((seg_total - 1) / (arrivals[-1] - arrivals[0]), 2)
        results["first_text_after_send_s"] = round(arrivals[0] - t0, 3)
        results["whole_broadcast_s"] = round(arrivals[-1] - t0, 1)
        sent_after_alert = sum(1 for t in arrivals if alert_at is not None and t > alert_at)
        results["broadcast_texts_after_the_alert"] = sent_after_alert
        results["worker_peak_mb"] = round(bench.peak_memory_mb(), 1)
    finally:
        bench.close()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=10000)
    parser.add_argument("--rate", type=int, default=100, help="SEND_RATE_SEGMENTS_PER_SECOND")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", ""))
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    args = parser.parse_args()
    results = run(args)
    print(json.dumps(results, indent=2))
    wait = results["raid_alert_wait_s"]
    targets = [
        (f"most segments in any 1 s <= {args.rate}", results["max_segments_in_any_1s"] <= args.rate),
        (f"mean >= 0.9 x {args.rate} segments/s", results["mean_segments_per_s"] >= 0.9 * args.rate),
        ("worker peak < 200 MB", results["worker_peak_mb"] < 200),
        ("raid alert's first send < 2 s after its report", wait is not None and wait < 2.0),
        ("the broadcast resumed after the alert", results["broadcast_texts_after_the_alert"] > 0),
        ("every member exactly one text", results["members_with_exactly_one"] == args.members
         and results["duplicates"] == 0),
    ]
    for name, ok in targets:
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    return 0 if all(ok for _, ok in targets) else 1


if __name__ == "__main__":
    sys.exit(main())
