"""Status callbacks keep pace: an alert's sending rate with and without its callbacks.

    python -m bench.callback_pace [--members 10000] [--workers 2] [--callback-workers 32] [--database-url URL]
                                  [--receiver app|null]

The Procfile's web line (gunicorn) and --workers RQ workers, the loopback fake Twilio in its own
process, rate limit off (full speed). Two alerts to the same --members members:
  1. callbacks off: the sending rate (texts / seconds from the report to the last text at the fake);
  2. callbacks on: the fake sends signed `sent` and `delivered` callbacks for every text (and
     `queued` with --queued-callbacks) from --callback-workers threads (Twilio's 15 s timeout)
     while the alert goes out.
Prints both rates and their ratio (target >= 0.8), every callback's answer time (target: all 2xx,
each under 1 s), and how long after the last callback every text of the second alert was recorded
`delivered` in the database (target: all of them). Each alert also reports the CPU seconds the
web (gunicorn master + workers), the RQ workers and the fake spent while it went out (and, with
callbacks, up to the last status recorded) and the web's CPU per callback: all three share the
machine's cores, so a callback's cost in each of them is what takes the sending rate down. The
callbacks' lag (from a text's acceptance at the fake to its callback answered) shows the fake kept
up: a fake that fell behind would send the callbacks after the alert and flatter the ratio.

--receiver null sends the callbacks to bench.null_receiver (reads, answers 204, nothing else)
instead of the application: its ratio is the most any application could keep on this machine
with the fake's callbacks sharing the cores, an upper bound for the target, not a figure of ours.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request
from typing import Any

from sqlalchemy import func, select

from bench.inbound_load import children
from bench.send_cpu import cpu_seconds
from bench.stack import serving, summary_ms
from bench.status_storm import Storm


class Pace(Storm):
    receiver: subprocess.Popen[str] | None = None

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far of the web (gunicorn master + workers), the RQ workers and the fake
        (and the null receiver, when callbacks go there)."""
        master = self.processes[0].pid
        cpu = {"web": sum(cpu_seconds(pid) for pid in [master, *children(master)]),
               "workers": sum(cpu_seconds(p.pid) for p in self.processes[1:]),
               "fake": cpu_seconds(self.fake.pid)}
        if self.receiver is not None:
            cpu["null_receiver"] = cpu_seconds(self.receiver.pid)
        return cpu

    def receive_nowhere(self) -> None:
        """Status callbacks to bench.null_receiver, not to the application (before start())."""
        self.receiver, self.env["STATUS_CALLBACK_BASE_URL"] = serving("bench.null_receiver")

    def close(self) -> None:
        if self.receiver is not None:
            self.receiver.terminate()
            self.receiver.wait(timeout=10)
            if self.receiver.stdout is not None:
                self.receiver.stdout.close()
        super().close()

    def fake_config(self, **cfg: Any) -> None:
        request = urllib.request.Request(self.fake_url + "/_fake/config", data=json.dumps(cfg).encode(),
                                         method="POST")
        with urllib.request.urlopen(request, timeout=60):  # noqa: S310 - loopback
            pass

    def fake_reset(self) -> None:
        request = urllib.request.Request(self.fake_url + "/_fake/reset", data=b"{}", method="POST")
        with urllib.request.urlopen(request, timeout=60):  # noqa: S310 - loopback
            pass

    def delivered(self, incident_id: int) -> int:
        from rapidresponse.messaging.models import OutboundMessage

        with self.svc.db.session() as session:
            return int(session.scalar(select(func.count()).select_from(OutboundMessage).where(
                OutboundMessage.incident_id == incident_id, OutboundMessage.status == "delivered")) or 0)

    def latest_incident(self) -> int:
        from rapidresponse.incidents.models import Incident

        with self.svc.db.session() as session:
            return int(session.scalar(select(func.max(Incident.id))) or 0)

    def alert(self, reporter: str, callbacks: bool) -> dict[str, Any]:
        n = self.args.members
        self.fake_reset()
        self.fake_config(callbacks=callbacks, latency=0.0, callback_queued=self.args.queued_callbacks)
        cpu0 = self.cpu()
        t0 = time.time()
        status, _ = self.text(reporter, "BENCH callback pace alert")
        assert status == 200
        deadline = t0 + self.args.timeout
        while self.fake_admin("/_fake/stats")["count"] < n and time.time() < deadline:
            time.sleep(0.2)
        messages = self.fake_admin("/_fake/messages")
        times = sorted(m["received_at"] for m in messages)
        sent_cpu = self.cpu()
        result: dict[str, Any] = {"callbacks": callbacks, "texts": len(times),
                                  "texts_per_s": round(len(times) / (times[-1] - t0), 1),
                                  "cpu_s_while_sending": {k: round(sent_cpu[k] - cpu0[k], 1) for k in cpu0},
                                  "load_average": os.getloadavg()[0]}
        if not callbacks:
            return result
        incident_id = self.latest_incident()
        while self.fake_admin("/_fake/stats")["callbacks_pending"] and time.time() < deadline:
            time.sleep(0.2)
        last_callback = time.time()
        while self.receiver is None and self.delivered(incident_id) < n and time.time() < deadline:
            time.sleep(0.2)
        log = self.fake_admin("/_fake/callbacks")
        took = [c["took"] for c in log]
        accepted = {m["sid"]: m["received_at"] for m in messages}
        lag = [c["at"] - accepted[c["params"]["MessageSid"]] for c in log
               if c["params"].get("MessageSid") in accepted]
        cpu1 = self.cpu()
        result.update({
            "cpu_s_to_last_status": {k: round(cpu1[k] - cpu0[k], 1) for k in cpu0},
            "web_cpu_ms_per_callback": round((cpu1["web"] - cpu0["web"]) / max(1, len(log)) * 1000, 2),
            "callbacks_sent": len(log), "answers": summary_ms(took), "lag_from_acceptance": summary_ms(lag),
            "non_2xx_or_error": sum(1 for c in log if c["error"] or not str(c["status"]).startswith("2")),
            "over_1s": sum(1 for t in took if t >= 1.0),
            "delivered_recorded": self.delivered(incident_id),
            "all_recorded_after_last_callback_s": round(time.time() - last_callback, 1),
        })
        return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=10000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--callback-workers", type=int, default=32, help="callbacks the fake sends at once")
    parser.add_argument("--queued-callbacks", action="store_true",
                        help="a `queued` callback too (three per text instead of sent and delivered)")
    parser.add_argument("--receiver", choices=("app", "null"), default="app",
                        help="null: callbacks to bench.null_receiver, for the upper bound on this machine")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--port", type=int, default=5128)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", ""))
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    args = parser.parse_args()
    args.status_port = 0
    pace = Pace(args)
    try:
        pace.add_members(args.members)
        if args.receiver == "null":
            pace.receive_nowhere()
        pace.start()
        off = pace.alert("+13105550101", callbacks=False)
        on = pace.alert("+13105550102", callbacks=True)
    finally:
        pace.close()
    results = {"members": args.members, "workers": args.workers, "receiver": args.receiver,
               "database": "postgresql" if args.database_url.startswith("postgres") else "sqlite",
               "callbacks_off": off, "callbacks_on": on, "ratio": round(on["texts_per_s"] / off["texts_per_s"], 3),
               "load_average": os.getloadavg()[0]}
    print(json.dumps(results, indent=2))
    if args.receiver == "null":
        print(f"UPPER BOUND  {results['ratio']}: the ratio with callbacks that cost the application nothing")
        return 0
    targets = [
        ("sending rate with callbacks >= 0.8 x without", results["ratio"] >= 0.8),
        ("every callback answered 2xx", on["non_2xx_or_error"] == 0),
        ("every callback answered in < 1 s", on["over_1s"] == 0),
        ("every status recorded", on["delivered_recorded"] == args.members),
    ]
    for name, ok in targets:
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    return 0 if all(ok for _, ok in targets) else 1


if __name__ == "__main__":
    sys.exit(main())
