"""Layer planning benchmark: report -> first send, planning wall time and worker peak memory for
layers of 1,000 / 10,000 / 100,000 members, through real RQ workers to the loopback fake Twilio.

    python -m bench.layer_planning [--layers 1000,10000,100000] [--runs 5] [--workers 2]
                                   [--database-url URL]

For each layer size: a fresh database seeded with that many members in one layer, fresh workers,
then `--runs` reports, each alerting the whole layer. A run measures
  - report -> first send: the signed webhook's start to the first text reaching the fake;
  - planning wall time: the same start to the moment every member's alert is recorded in the
    outbox (committed), as a poll of the database sees it (every 50 ms, or 2% of the time so far);
and, once every alert is recorded, cancels the texts still waiting so the next run starts on idle
workers (sending speed is bench.alert_fanout's business; here texts are sent while the layer is
planned, as in a real alert). Worker peak memory is the largest VmHWM (peak resident set since
the process started) of the workers, read before they stop after the last run of a size: it takes
in whatever a worker does meanwhile, the sweep's too (its first, 5 s after the workers start,
counts every layer's coverage; that count's row per member was 75 MB of a 186 MB peak).
Targets (issue 11): first send p50 < 300 ms at 10,000 and < 500 ms at 100,000; planning at
100,000 <= 12x planning at 10,000; worker peak < 200 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from typing import Any

from sqlalchemy import func, select, update

from bench.alert_fanout import Bench


class PlanningBench(Bench):
    peaks_mb: list[float]

    def stop_workers(self) -> None:
        """Stop the workers, keeping each one's peak resident memory since it started (VmHWM).
        Not ru_maxrss: Linux carries the pre-exec peak over an exec, so a worker started by this
        process (which holds the seeded layer) would report this process's size."""
        self.peaks_mb = getattr(self, "peaks_mb", [])
        if self.workers:
            self.peaks_mb.append(self.peak_memory_mb())
        super().stop_workers()

    def alerts_of(self, incident_id: int) -> int:
        from rapidresponse.messaging.models import OutboundMessage, Purpose

        with self.svc.db.session() as session:
            return session.scalar(select(func.count()).where(
                OutboundMessage.incident_id == incident_id, OutboundMessage.purpose == Purpose.ALERT.value)) or 0

    def latest_incident(self) -> int | None:
        from rapidresponse.incidents.models import Incident

        with self.svc.db.session() as session:
            return session.scalar(select(func.max(Incident.id)))

    def run(self, n: int, i: int, timeout: float = 600) -> dict[str, float]:
        from rapidresponse.messaging.models import DeliveryStatus, OutboundMessage

        self.fake.admin("/_fake/reset", {})
        before = self.latest_incident()
        t0 = self.report(f"BENCH planning run {i}", sender=f"+1310556{i:04d}")
        deadline = time.time() + timeout
        first = planned = None
        while True:
            if time.time() > deadline:
                raise SystemExit(f"timed out planning {n} members")
            if first is None and self.fake.count():
                first = min(m["received_at"] for m in self.fake.admin("/_fake/messages"))
            if planned is None:
                incident = self.latest_incident()
                if incident is not None and incident != before and self.alerts_of(incident) >= n:
                    planned = time.time()
            if planned is not None and first is not None:
                break
            # Counting a big layer's rows costs CPU the planner needs: look less often as it grows
            # (a 2% resolution).
            time.sleep(max(0.05, (time.time() - t0) / 50))
        # Every alert is recorded: the rest need not be sent for this benchmark.
        with self.svc.db.session() as session:
            session.execute(update(OutboundMessage).where(OutboundMessage.status == DeliveryStatus.PENDING.value)
                            .values(status=DeliveryStatus.CANCELLED.value))
        self.wait_idle()
        return {"first_send_s": first - t0, "planning_s": planned - t0}

    def warm_up(self, timeout: float = 120) -> None:
        """One small alert first (the bench's `quick` tree): workers imported, connections open."""
        self.fake.admin("/_fake/reset", {})
        self.report("QUICK warm-up", sender="+13105569999")
        deadline = time.time() + timeout
        while not self.fake.count() and time.time() < deadline:
            time.sleep(0.05)
        self.wait_idle()

    def wait_idle(self, timeout: float = 120) -> None:
        from rapidresponse.jobs import queues
        from rapidresponse.messaging.models import DeliveryStatus, OutboundMessage

        deadline = time.time() + timeout
        while time.time() < deadline:
            busy = sum(queues.queue(self.svc, name).count for name in (queues.URGENT, queues.BULK))
            with self.svc.db.session() as session:
                sending = session.scalar(select(func.count()).where(
                    OutboundMessage.status == DeliveryStatus.SENDING.value))
            if not busy and not sending:
                time.sleep(0.5)
                return
            time.sleep(0.1)


def measure(args: argparse.Namespace, n: int) -> dict[str, Any]:
    bench = PlanningBench(argparse.Namespace(**{**vars(args), "rate": 1}))
    try:
        t = time.time()
        bench.add_members(n)
        seeded = time.time() - t
        bench.start_workers()
        bench.warm_up()
        runs = []
        for i in range(args.runs):
            runs.append(bench.run(n, i))
            print(f"  layer {n:,} run {i}: {json.dumps(runs[-1])}", file=sys.stderr, flush=True)
    finally:
        bench.close()
    first = [r["first_send_s"] for r in runs]
    planning = [r["planning_s"] for r in runs]
    return {"layer": n, "runs": len(runs), "seed_s": round(seeded, 1),
            "first_send_p50_ms": round(statistics.median(first) * 1000, 1),
            "first_send_max_ms": round(max(first) * 1000, 1),
            "planning_p50_s": round(statistics.median(planning), 3),
            "planning_max_s": round(max(planning), 3),
            "worker_peak_mb": round(max(bench.peaks_mb), 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--layers", default="1000,10000,100000", help="comma-separated layer sizes")
    parser.add_argument("--runs", type=int, default=5, help="reports per layer size")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", ""))
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    args = parser.parse_args()
    sizes = [int(x) for x in args.layers.split(",") if x]
    results = []
    for n in sizes:
        results.append(measure(args, n))
        print(json.dumps(results[-1]), flush=True)
    by = {r["layer"]: r for r in results}
    targets = []
    if 10000 in by:
        targets.append(("first send p50 < 300 ms at 10,000", by[10000]["first_send_p50_ms"] < 300))
    if 100000 in by:
        targets.append(("first send p50 < 500 ms at 100,000", by[100000]["first_send_p50_ms"] < 500))
        targets.append(("worker peak < 200 MB at 100,000", by[100000]["worker_peak_mb"] < 200))
        if 10000 in by:
            ratio = by[100000]["planning_p50_s"] / by[10000]["planning_p50_s"]
            print(f"planning 100,000 / 10,000 = {ratio:.1f}x")
            targets.append(("planning 100,000 <= 12x 10,000", ratio <= 12))
    print("| layer | report -> first send p50 (max) | planning wall time p50 (max) | worker peak memory |")
    print("|---|---|---|---|")
    for r in results:
        print(f"| {r['layer']:,} | {r['first_send_p50_ms']:.0f} ms ({r['first_send_max_ms']:.0f}) "
              f"| {r['planning_p50_s']:.2f} s ({r['planning_max_s']:.2f}) | {r['worker_peak_mb']:.0f} MB |")
    for name, ok in targets:
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    return 0 if all(ok for _, ok in targets) else 1


if __name__ == "__main__":
    sys.exit(main())
