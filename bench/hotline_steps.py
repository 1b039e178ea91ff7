"""The hotline's CPU per step, in this process: what each webhook answer costs the web, apart
from everything else the machine is doing.

    python -m bench.hotline_steps [--calls 200] [--database-url postgresql://...] [--job]

Each call is what bench.voice_calls plays, posted to the app with Flask's test client and signed
exactly as Twilio signs (each response closed once read, as a server closes it once sent, which
is when a webhook queues its work): the greeting, 1 at the menu, a 20-second recording (which opens the
incident), the number's status callback. Prints, per step, the CPU this process spent (p50 and
mean, ms), the statements run and their wall time (for PostgreSQL, mostly the server's). With
--job, also the worker's first evaluation of each report (escalation.evaluate, what the
start_incident job runs). The bench's tree has one verifier layer and no members, as in
bench.voice_calls. On a shared 2-core machine the wall clock of a step moves with everything else
running; its CPU in this process much less: compare CPU before and after a change.

Measured 2026-12-02 02:47 UTC, quiet machine, 200 calls, p50 ms of CPU (before: main at 81d124e,
with this file copied in and no heap freeze): SQLite greeting 3.04 -> 2.32, menu 1.46 -> 1.18,
recorded 8.12 -> 4.53 (mean 9.87 -> 4.64; 13.6 -> 10 statements), ended 1.72 -> 1.09, the
worker's evaluation 6.97 -> 6.03 (17 -> 13 statements); PostgreSQL greeting 4.61 -> 2.81, menu
2.17 -> 1.46, recorded 11.52 -> 6.01 (mean 13.18 -> 6.40), ended 2.65 -> 1.55, evaluation
10.83 -> 8.07.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
import uuid
from collections import Counter, defaultdict
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import event, func, select
from twilio.request_validator import RequestValidator

from bench.stack import app_in_process
from bench.voice_calls import TREES  # the same trees: one verifier layer, no members

ACCOUNT_SID = "AC" + "e" * 32
AUTH_TOKEN = "hotline-steps-token-0123456789ab"
FROM = "+12125550000"
BASE = "https://rr.example.org"
STEPS = [
    ("greeting", {}, {}),
    ("menu", {"step": "menu", "lang": "en"}, {"Digits": "1"}),
    ("recorded", {"step": "recorded", "lang": "en", "tree": "ice", "try": "1"},
     {"RecordingDuration": "20", "RecordingUrl": "https://api.twilio.com/recording"}),
    ("ended", {"step": "ended", "lang": "en"}, {"CallStatus": "completed"}),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--warm-up", type=int, default=10)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--job", action="store_true", help="also time the worker's first evaluation of each report")
    args = parser.parse_args()

    svc, app = app_in_process("hotline-steps", TREES, args.database_url, args.redis_url, {
        "PUBLIC_BASE_URL": BASE, "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_FROM_NUMBER": FROM})
    from rapidresponse.db import utcnow
    from rapidresponse.escalation.service import evaluate
    from rapidresponse.heap import freeze_startup
    from rapidresponse.incidents.models import Incident

    client = app.test_client()
    validator = RequestValidator(AUTH_TOKEN)
    current = [""]
    statements: Counter[str] = Counter()
    sql_ms: defaultdict[str, float] = defaultdict(float)

    @event.listens_for(svc.db.engine, "before_cursor_execute")
    def _before(conn: Any, *_: Any) -> None:
        statements[current[0]] += 1
        conn.info["bench_t0"] = time.perf_counter()

    # What else waits on the database server: each transaction's BEGIN and COMMIT (PostgreSQL;
    # SQLite has no server) and each pool checkout's pre-ping.
    exchanges: Counter[str] = Counter()

    def server_transaction(conn: Any) -> bool:
        return not svc.db.is_sqlite and conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT"

    @event.listens_for(svc.db.engine, "begin")
    def _begin(conn: Any) -> None:
        exchanges[current[0]] += server_transaction(conn)

    @event.listens_for(svc.db.engine, "commit")
    def _commit(conn: Any) -> None:
        exchanges[current[0]] += server_transaction(conn)

    @event.listens_for(svc.db.engine.pool, "checkout")
    def _checkout(*_: Any) -> None:
        exchanges[current[0]] += 1 if svc.db.engine.pool._pre_ping else 0

    @event.listens_for(svc.db.engine, "after_cursor_execute")
    def _after(conn: Any, *_: Any) -> None:
        sql_ms[current[0]] += (time.perf_counter() - conn.info["bench_t0"]) * 1000

    cpu: defaultdict[str, list[float]] = defaultdict(list)

    def timed(name: str, work: Any) -> Any:
        current[0] = name
        c0 = time.process_time()
        result = work()
        cpu[name].append((time.process_time() - c0) * 1000)
        return result

    def call(i: int) -> None:
        sid = "CA" + uuid.uuid4().hex
        form = {"CallSid": sid, "AccountSid": ACCOUNT_SID, "From": f"+1213{5550000 + i:07d}", "To": FROM,
                "CallStatus": "in-progress"}
        for name, query, extra in STEPS:
            params = {**form, **extra}
            if name == "recorded":
                params["RecordingSid"] = "RE" + uuid.uuid4().hex
            path = "/twilio/voice" + (f"?{urlencode(query)}" if query else "")
            headers = {"X-Twilio-Signature": validator.compute_signature(BASE + path, params)}
            response = timed(name, lambda path=path, params=params, headers=headers:
                             client.post(path, data=params, headers=headers, buffered=True))
            if response.status_code not in (200, 204):
                raise SystemExit(f"{name}: {response.status_code} {response.data[:200]!r}")
        if args.job:
            with svc.db.session() as session:
                incident_id = session.scalar(select(func.max(Incident.id)))

            def job() -> None:
                with svc.db.session() as session:
                    evaluate(svc, session, incident_id, utcnow())

            timed("job", job)

    for i in range(args.warm_up):
        call(100_000 + i)
    freeze_startup()  # as the web's and worker's processes do once started (rapidresponse/heap.py)
    cpu.clear()
    statements.clear()
    exchanges.clear()
    sql_ms.clear()
    collections_before = gc.get_stats()[2]["collections"]
    for i in range(args.calls):
        call(i)
    print(json.dumps({
        "database": svc.db.engine.dialect.name, "calls": args.calls,
        "full_collections": gc.get_stats()[2]["collections"] - collections_before,
        "steps": {name: {"cpu_p50_ms": round(statistics.median(times), 2),
                         "cpu_mean_ms": round(statistics.mean(times), 2),
                         "statements": round(statements[name] / args.calls, 1),
                         "round_trips": round((statements[name] + exchanges[name]) / args.calls, 1),
                         "sql_wall_ms": round(sql_ms[name] / args.calls, 2)}
                  for name, times in cpu.items()},
    }, indent=2))
    svc.db.engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
