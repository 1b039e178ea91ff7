"""POST /twilio/sms under an open-loop load: signed texts from distinct numbers at a fixed rate.

    python -m bench.inbound_load [--rates 100,300] [--seconds 20] [--body HELP] [--database-url URL]

Runs the Procfile's web line as shipped (gunicorn, config/gunicorn.conf.py) and the workers, then
for each rate sends signed texts, each from a member of its own (seeded, distinct numbers), on a
fixed arrival schedule: request i is due at start + i / rate whether or not earlier answers came
back (open loop), each on a new connection, and its latency counts from the moment it was due, so
a server that falls behind shows it in the figures instead of slowing the sender down. Requests
are built and signed before the clock starts; the sender is one asyncio loop.

Prints per rate: the rate achieved, p50 / p99 / max latency, non-2xx answers and errors, and the
web's CPU per request (gunicorn master + workers, user + system, from /proc) over the run.
Target (issue 11): 300 requests/s for 20 s with p99 < 100 ms and no non-2xx.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

from bench.send_cpu import cpu_seconds
from bench.stack import summary_ms
from bench.status_storm import ACCOUNT_SID, FROM, Storm


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found += [int(child) for child in text]
    return found


class Load(Storm):
    def web_cpu(self) -> float:
        master = self.processes[0].pid
        return sum(cpu_seconds(pid) for pid in [master, *children(master)])

    def requests(self, senders: list[str], body: str) -> list[bytes]:
        """Each text signed as Twilio signs it, as raw HTTP/1.1 requests (one connection each)."""
        url = self.base + "/twilio/sms"
        host = urllib.parse.urlsplit(self.base).netloc
        out = []
        for sender in senders:
            params = {"MessageSid": "SM" + uuid.uuid4().hex, "From": sender, "To": FROM, "Body": body,
                      "AccountSid": ACCOUNT_SID, "NumMedia": "0"}
            data = urllib.parse.urlencode(params).encode()
            head = (f"POST /twilio/sms HTTP/1.1\r\nHost: {host}\r\nUser-Agent: TwilioProxy/1.1\r\n"
                    f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(data)}\r\n"
                    f"X-Twilio-Signature: {self.validator.compute_signature(url, params)}\r\n"
                    "Connection: close\r\n\r\n")
            out.append(head.encode() + data)
        return out

    def open_loop(self, rate: float, raw: list[bytes]) -> dict[str, Any]:
        host, port = "127.0.0.1", self.args.port
        latencies: list[float] = []
        statuses: dict[str, int] = {}

        async def one(due: float, request: bytes) -> None:
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            try:
                reader, writer = await asyncio.open_connection(host, port)
                writer.write(request)
                await writer.drain()
                answer = await reader.read()
                writer.close()
                status = answer.split(b" ", 2)[1].decode() if answer.startswith(b"HTTP/") else "garbled"
            except OSError as exc:
                status = type(exc).__name__
            latencies.append(time.perf_counter() - due)
            statuses[status] = statuses.get(status, 0) + 1

        async def run() -> float:
            start = time.perf_counter() + 0.2
            tasks = [asyncio.create_task(one(start + i / rate, request)) for i, request in enumerate(raw)]
            await asyncio.gather(*tasks)
            return time.perf_counter() - start

        cpu0 = self.web_cpu()
        took = asyncio.run(run())
        cpu = self.web_cpu() - cpu0
        non_2xx = sum(n for status, n in statuses.items() if not status.startswith("2"))
        return {"rate": rate, "requests": len(raw), "achieved_per_s": round(len(raw) / took, 1),
                **summary_ms(latencies), "non_2xx": non_2xx, "answers": statuses,
                "web_cpu_ms_per_request": round(cpu / len(raw) * 1000, 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rates", default="100,300", help="requests per second, one run each")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--body", default="HELP", help="what each member texts")
    parser.add_argument("--workers", type=int, default=2, help="RQ workers beside the web")
    parser.add_argument("--port", type=int, default=5118)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", ""))
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    args = parser.parse_args()
    args.status_port, args.callback_workers = 0, 1
    rates = [float(r) for r in args.rates.split(",")]
    needed = sum(int(r * args.seconds) for r in rates) + 100
    args.members = needed
    load = Load(args)
    results: dict[str, Any] = {"database": "postgresql" if args.database_url.startswith("postgres") else "sqlite",
                               "seconds": args.seconds, "body": args.body, "runs": []}
    try:
        load.add_members(needed)
        load.start()
        used = 0
        warm = load.requests(load.members[used : used + 100], args.body)
        used += 100
        load.open_loop(50, warm)  # imports, connections, caches in every gunicorn worker
        for rate in rates:
            n = int(rate * args.seconds)
            raw = load.requests(load.members[used : used + n], args.body)
            used += n
            results["runs"].append(load.open_loop(rate, raw))
            time.sleep(2)
    finally:
        load.close()
    results["load_average"] = os.getloadavg()[0]
    print(json.dumps(results, indent=2))
    at_300 = [run for run in results["runs"] if run["rate"] >= 300]
    ok = bool(at_300) and all(run["p99_ms"] < 100 and run["non_2xx"] == 0 for run in at_300)
    print(f"{'PASS' if ok else 'FAIL'}  300 requests/s: p99 < 100 ms and no non-2xx")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
