"""An inbound text's cost to the web, in this process: POST /twilio/sms through the WSGI app, apart
from gunicorn and from everything else the machine is doing.

    python -m bench.inbound_steps [--texts 1000] [--body HELP] [--gap-ms 0] [--database-url postgresql://...]

Each text is signed as Twilio signs it, from a member of its own (seeded, distinct numbers, as in
bench.inbound_load), and handed to the app as the WSGI environ gunicorn would build. Prints the
CPU this process spent per text (p50 and mean, ms), and the SQL statements and commits per text.
On a shared 2-core machine CPU time still moves with the load; the instruction count does not:

    valgrind --tool=callgrind --instr-atstart=no python -m bench.inbound_steps --texts 300 --callgrind

counts instructions only while the texts are posted (the bench turns callgrind's instrumentation on
and off around them); the total in callgrind's out file divided by --texts is instructions per text.

Measured 2026-12-02 06:45 UTC (SQLite, HELP, 300 texts, callgrind): main at 30d0f6d (the inbound
path as at af9c466) 5.07 M instructions per text, 7 statements (3 SELECT, 2 INSERT, 2 UPDATE),
2 commits; at 45e9126 4.25 M, 5 statements (1 SELECT), 2 commits.

--gap-ms N idles N ms between texts (outside the measurement), as the web does between requests
at 100-300 a second. On this machine a text costs two to three times the CPU after an idle gap
(caches gone cold): 2026-12-03 11:45 UTC (SQLite, HELP, 1,000 texts, mean) 1.38 ms back to back,
3.50 ms with `--gap-ms 3`, 3.80 ms with `--gap-ms 10`. That is most of the difference between this
bench and the web's CPU per request in bench.inbound_load (4.2-4.8 ms that day).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import event
from twilio.request_validator import RequestValidator

from bench.stack import app_in_process
from bench.status_storm import ACCOUNT_SID, AUTH_TOKEN, FROM, TREES

BASE = "http://127.0.0.1:5118"


def environ(validator: RequestValidator, sender: str, body: str) -> dict[str, Any]:
    """The WSGI environ of one signed text, as gunicorn passes it to the app."""
    params = {"MessageSid": "SM" + uuid.uuid4().hex, "From": sender, "To": FROM, "Body": body,
              "AccountSid": ACCOUNT_SID, "NumMedia": "0"}
    data = urlencode(params).encode()
    return {"REQUEST_METHOD": "POST", "SCRIPT_NAME": "", "PATH_INFO": "/twilio/sms", "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "5118", "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_HOST": "127.0.0.1:5118", "HTTP_USER_AGENT": "TwilioProxy/1.1",
            "CONTENT_TYPE": "application/x-www-form-urlencoded", "CONTENT_LENGTH": str(len(data)),
            "HTTP_X_TWILIO_SIGNATURE": validator.compute_signature(BASE + "/twilio/sms", params),
            "wsgi.input": io.BytesIO(data), "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr,
            "wsgi.multithread": True, "wsgi.multiprocess": True, "wsgi.run_once": False, "wsgi.version": (1, 0),
            "REMOTE_ADDR": "127.0.0.1"}


def callgrind(on: bool) -> None:
    subprocess.run(["callgrind_control", "-i", "on" if on else "off", str(os.getpid())],  # noqa: S603, S607
                   check=True, capture_output=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--texts", type=int, default=1000)
    parser.add_argument("--warm-up", type=int, default=50)
    parser.add_argument("--body", default="HELP")
    parser.add_argument("--database-url", default="")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--gap-ms", type=float, default=0.0, help="idle this long between texts")
    parser.add_argument("--callgrind", action="store_true", help="run under valgrind --tool=callgrind (see above)")
    args = parser.parse_args()

    svc, app = app_in_process("inbound-steps", TREES, args.database_url, args.redis_url, {
        "PUBLIC_BASE_URL": BASE, "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_FROM_NUMBER": FROM}, SEND_RATE_SEGMENTS_PER_SECOND="0")
    from bench.seeding import seed_members
    from rapidresponse.heap import freeze_startup

    phones = [f"+1212{5550000 + i:07d}" for i in range(args.warm_up + args.texts)]
    seed_members(svc, phones, [{"bench": 1} for _ in phones])
    validator = RequestValidator(AUTH_TOKEN)
    statements: Counter[str] = Counter()
    commits = [0]

    @event.listens_for(svc.db.engine, "before_cursor_execute")
    def _statement(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        statements[statement.split(None, 1)[0].upper()] += 1

    @event.listens_for(svc.db.engine, "commit")
    def _commit(conn: Any) -> None:
        commits[0] += 1

    def post(text: dict[str, Any]) -> None:
        statuses: list[str] = []
        answer = app(text, lambda status, headers, exc_info=None: statuses.append(status))
        try:
            body = b"".join(answer)
        finally:
            answer.close()  # as gunicorn does once it is sent: the webhook queues its work then
        if not statuses[0].startswith("200"):
            raise SystemExit(f"{statuses[0]}: {body[:200]!r}")

    texts = [environ(validator, phone, args.body) for phone in phones]
    for text in texts[: args.warm_up]:
        post(text)
    freeze_startup()  # as the web's workers do once started (rapidresponse/heap.py)
    statements.clear()
    commits[0] = 0
    cpu: list[float] = []
    if args.callgrind:
        callgrind(True)
    for text in texts[args.warm_up :]:
        if args.gap_ms:
            time.sleep(args.gap_ms / 1000)
        c0 = time.process_time()
        post(text)
        cpu.append((time.process_time() - c0) * 1000)
    if args.callgrind:
        callgrind(False)
    print(json.dumps({
        "database": svc.db.engine.dialect.name, "texts": args.texts, "body": args.body, "gap_ms": args.gap_ms,
        "cpu_p50_ms": round(statistics.median(cpu), 3), "cpu_mean_ms": round(statistics.mean(cpu), 3),
        "statements_per_text": {k: v / args.texts for k, v in sorted(statements.items())},
        "commits_per_text": commits[0] / args.texts,
    }, indent=2))
    svc.db.engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
