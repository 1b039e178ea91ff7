"""Sending rate with 2 and 4 workers on one PostgreSQL and one Redis: what more worker hosts buy.

    python -m bench.scale_out --database-url postgresql://... [--members 10000] [--workers 2,4]
                              [--latency-ms 50]

For each worker count: that many `python -m workers.worker` processes (each one a worker host's
process: its own pool of SEND_CONCURRENCY threads, its own connections), the loopback fake Twilio
answering each create after --latency-ms (Twilio's API takes 50-200 ms), rate limit off, and one
alert to --members members; the sending rate is texts / seconds from the report to the last text
at the fake. Also the database's busiest moment: the most connections PostgreSQL held at once.
On this 2-core machine every worker shares the same two cores, so the figures show where a single
host stops and what the shared database and Redis still allow; on separate hosts each worker
brings its own cores.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from typing import Any

from sqlalchemy import create_engine, text

from bench.alert_fanout import Bench


def connections_watch(url: str, stop: threading.Event, peak: list[int]) -> None:
    from rapidresponse.settings import _database_url

    engine = create_engine(_database_url({"DATABASE_URL": url}))
    # Autocommit: pg_stat_activity is a snapshot taken once per transaction.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        while not stop.wait(0.25):
            count = conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"))
            peak[0] = max(peak[0], int(count.scalar() or 0))
    engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=10000)
    parser.add_argument("--workers", default="2,4", help="worker counts, one alert each")
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--rate", type=int, default=50, help="as bench.alert_fanout (sizes its trees)")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", ""))
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    args = parser.parse_args()
    if not args.database_url.startswith("postgres"):
        parser.error("--database-url must be a PostgreSQL database (it is emptied): several hosts share one")
    counts = [int(n) for n in args.workers.split(",")]
    args.workers = max(counts)
    bench = Bench(args)
    runs: list[dict[str, Any]] = []
    try:
        bench.add_members(args.members)
        for n in counts:
            args.workers = n
            bench.start_workers()
            stop, peak = threading.Event(), [0]
            watch = threading.Thread(target=connections_watch, args=(args.database_url, stop, peak), daemon=True)
            watch.start()
            t0 = time.time()
            rate = bench.fanout(args.members, args.latency_ms / 1000)
            stop.set()
            watch.join()
            runs.append({"workers": n, "texts_per_s": round(rate, 1), "seconds": round(time.time() - t0, 1),
                         "peak_db_connections": peak[0], "worker_peak_mb": round(bench.peak_memory_mb(), 1)})
    finally:
        bench.close()
    print(json.dumps({"members": args.members, "latency_ms": args.latency_ms, "runs": runs,
                      "load_average": os.getloadavg()[0]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
