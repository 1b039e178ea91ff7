"""Provider-delete drill: every text sent and received is deleted at the (fake) provider, once.

    python -m bench.provider_deletes [--members 1000] [--inbound 200] [--workers 2] [--delay 2]

Sends an alert to N members and texts M messages in (each answered in TwiML), with the fake
Twilio sending signed status callbacks, then waits until the provider holds nothing. Reports
sends, inbound texts and replies held at the provider, DELETE requests (and how many were
refused with 20009 or found nothing), messages deleted more than once, what is left over, and
the time from the last text to an empty provider. Exits non-zero unless every message got
exactly one successful delete and nothing is left.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections import Counter
from typing import Any
from xml.etree import ElementTree

from bench.alert_fanout import ACCOUNT_SID, AUTH_TOKEN, FROM, Bench


class DeleteDrill(Bench):
    def text_in(self, sender: str, body: str) -> None:
        """An inbound text as Twilio handles it: stored at the provider, the webhook called, the
        TwiML answer sent back as a reply (with status callbacks to its action URL)."""
        from twilio.request_validator import RequestValidator

        sid = self.fake.admin("/_fake/receive", {"from": sender, "to": FROM, "body": body})["sid"]
        params = {"MessageSid": sid, "From": sender, "To": FROM, "Body": body, "AccountSid": ACCOUNT_SID}
        url = self.env["PUBLIC_BASE_URL"] + "/twilio/sms"
        response = self.client.post("/twilio/sms", data=params, headers={
            "X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(url, params)})
        assert response.status_code == 200, response.data
        for message in ElementTree.fromstring(response.data).iter("Message"):
            self.fake.admin("/_fake/reply", {"to": sender, "from": FROM, "body": message.text or "",
                                             "action": message.get("action")})

    def held(self) -> list[str]:
        return list(self.fake.admin("/_fake/held"))

    def wait_for_sends(self, count: int, timeout: float) -> None:
        """Until `count` texts were accepted (the fake's count shrinks as deletes begin)."""
        deadline = time.time() + timeout
        while (created := int(self.fake.admin("/_fake/stats")["created"])) < count:
            if time.time() > deadline:
                raise SystemExit(f"timed out: {created} of {count} sent")
            time.sleep(0.2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--inbound", type=int, default=200, help="texts in from strangers (each gets a reply)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--delay", type=int, default=2, help="PROVIDER_DELETE_DELAY_SECONDS")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", ""))
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    args = parser.parse_args()
    args.rate = 0  # Bench.add_members puts rate*12 members in the rate tree: none here
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per status callback otherwise

    drill = DeleteDrill(args)
    results: dict[str, Any] = {"members": args.members, "inbound": args.inbound, "workers": args.workers,
                               "delay_s": args.delay,
                               "database": "postgresql" if args.database_url.startswith("postgres") else "sqlite"}
    try:
        drill.add_members(args.members)
        drill.fake.admin("/_fake/config", {"callbacks": True})
        drill.start_workers(PROVIDER_DELETE="on", PROVIDER_DELETE_DELAY_SECONDS=str(args.delay),
                            SWEEP_INTERVAL_SECONDS="0.5")
        drill.text_in("+13105550100", "BENCH provider delete drill")
        for i in range(args.inbound):
            drill.text_in(f"+1310556{i % 10000:04d}", "HELP")
        drill.wait_for_sends(args.members, args.timeout)
        last_text = time.time()
        held_at_peak = set(drill.held())
        deadline = time.time() + args.timeout
        while (left := drill.held()) and time.time() < deadline:
            time.sleep(0.5)
        emptied = time.time()
        deletes = drill.fake.admin("/_fake/deletes")
        ok = Counter(d["sid"] for d in deletes if d["status"] == 204)
        results.update({
            "sent_by_api": args.members,
            "held_at_provider_after_last_text": len(held_at_peak),
            "delete_requests": len(deletes),
            "deleted": len(ok),
            "refused_20009": sum(1 for d in deletes if d["status"] == 409),
            "not_found_404": sum(1 for d in deletes if d["status"] == 404),
            "deleted_more_than_once": sum(1 for n in ok.values() if n > 1),
            "leftovers": len(left),
            "seconds_from_last_text_to_empty": round(emptied - last_text, 1),
        })
    finally:
        drill.close()
    print(json.dumps(results, indent=2))
    expected = args.members + 2 * (args.inbound + 1)
    checks = [
        (f"every message held ({expected}: sends, texts in, replies) deleted",
         results["deleted"] >= expected and results["held_at_provider_after_last_text"] <= results["deleted"]),
        ("none deleted twice", results["deleted_more_than_once"] == 0),
        ("no leftovers at the provider", results["leftovers"] == 0),
    ]
    for name, passed in checks:
        print(f"{'PASS' if passed else 'FAIL'}  {name}")
    return 0 if all(passed for _, passed in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
