"""Provider-delete drill: every text, hotline call and recording is deleted at the (fake) provider, once.

    python -m bench.provider_deletes [--members 1000] [--inbound 200] [--calls 40] [--workers 2] [--delay 2]

Sends an alert to N members and texts M messages in (each answered in TwiML), with the fake
Twilio sending signed status callbacks; K callers ring the hotline (half report by voice into a
tree nobody is in, each leaving a recording and its transcription (VOICE_TRANSCRIBE=on), half hang
up at the menu), and once every call is over the bench resolves their incidents
(RECORDING_KEEP_HOURS=0). Then it waits until the provider holds nothing. Reports what was held
at the provider, DELETE requests per resource (and how many were refused with 20009 or found
nothing), records deleted more than once, what is left over, the time from the last text to an
empty provider, and the whole run's time. Exits non-zero unless every message,
call, recording and transcription got exactly one successful delete and nothing is left.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from xml.etree import ElementTree

from bench.alert_fanout import ACCOUNT_SID, AUTH_TOKEN, FROM, TREES, Bench

# Hotline reports go to a tree nobody is in: the drill is about what the provider keeps, and an
# incident that alerts nobody still opens, keeps its recording and is closed like any other.
HOTLINE_TREE = """
[trees.hotline]
keywords = ["HOTLINE"]
voice_key = "1"

[[trees.hotline.layers]]
name = "verifiers"
quorum = 1
wait_seconds = 3600
"""


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

    def call_hotline(self, i: int) -> dict[str, Any]:
        """A caller put through as Twilio would (the fake signs every request): even callers press 1
        and speak for 5 s, odd ones hang up at the menu (a missed call, no recording)."""
        base = self.env["PUBLIC_BASE_URL"]
        script: list[Any] = (["1", {"record": 5, "transcript": "two vans at the corner", "then": "#"}]
                             if i % 2 == 0 else ["hangup"])
        return dict(self.fake.admin("/_fake/calls/incoming", {
            "from": f"+1213555{i % 10000:04d}", "to": FROM, "url": base + "/twilio/voice", "script": script,
            "status_callback": base + "/twilio/voice?step=ended"}))

    def resolve_hotline_incidents(self) -> int:
        """What a coordinator does once a report is dealt with: closing it starts its recording's
        RECORDING_KEEP_HOURS (0 here)."""
        from sqlalchemy import select

        from rapidresponse.db import utcnow
        from rapidresponse.hotline.models import InboundCall
        from rapidresponse.incidents.models import Incident
        from rapidresponse.incidents.responses import close_incident
        from rapidresponse.incidents.states import IncidentStatus
        from rapidresponse.jobs.dispatch import dispatch

        with self.svc.db.session() as session:
            reported_by_phone = select(Incident).join(InboundCall, InboundCall.incident_id == Incident.id)
            afters = [close_incident(self.svc, session, incident, IncidentStatus.RESOLVED, utcnow(), actor="bench")
                      for incident in session.scalars(reported_by_phone.where(Incident.closed_at.is_(None))).all()]
        for after in afters:  # once committed
            dispatch(self.svc, after)
        return len(afters)

    def held(self) -> list[str]:
        return list(self.fake.admin("/_fake/held"))

    def held_calls(self) -> list[str]:
        return [c["sid"] for c in self.fake.admin("/_fake/calls")]

    def held_recordings(self) -> list[str]:
        return [r["sid"] for r in self.fake.admin("/_fake/recordings")]

    def held_transcriptions(self) -> list[str]:
        return [t["sid"] for t in self.fake.admin("/_fake/transcriptions")]

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
    parser.add_argument("--calls", type=int, default=40, help="hotline callers (half report, half hang up)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--delay", type=int, default=2, help="PROVIDER_DELETE_DELAY_SECONDS")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", ""))
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    args = parser.parse_args()
    args.rate = 0  # Bench.add_members puts rate*12 members in the rate tree: none here
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per status callback otherwise

    # Callbacks (and hotline steps) wait as long as Twilio waits for a webhook: the web server here
    # shares two busy cores with the workers, and a step that times out ends the call (11200).
    drill = DeleteDrill(args, trees=TREES + HOTLINE_TREE, fake_options=("--callback-timeout", "15"),
                        settings={"VOICE_TRANSCRIBE": "on"})  # the hotline's TwiML asks for transcriptions
    results: dict[str, Any] = {"members": args.members, "inbound": args.inbound, "calls": args.calls,
                               "workers": args.workers, "delay_s": args.delay,
                               "database": "postgresql" if args.database_url.startswith("postgres") else "sqlite"}
    started = time.time()
    try:
        drill.add_members(args.members)
        drill.fake.admin("/_fake/config", {"callbacks": True})
        drill.start_workers(PROVIDER_DELETE="on", PROVIDER_DELETE_DELAY_SECONDS=str(args.delay),
                            RECORDING_KEEP_HOURS="0", SWEEP_INTERVAL_SECONDS="0.5")
        drill.text_in("+13105550100", "BENCH provider delete drill")
        for i in range(args.inbound):
            drill.text_in(f"+1310556{i % 10000:04d}", "HELP")
        with ThreadPoolExecutor(4) as pool:
            calls = list(pool.map(drill.call_hotline, range(args.calls)))
        call_sids = {c["sid"] for c in calls}
        recording_sids = {sid for c in calls for sid in c["recordings"]}
        transcription_sids = set(drill.held_transcriptions())  # kept, like the recordings, while incidents are open
        results["hotline_incidents_resolved"] = drill.resolve_hotline_incidents()
        drill.wait_for_sends(args.members, args.timeout)
        last_text = time.time()
        held_at_peak = set(drill.held())
        deadline = time.time() + args.timeout
        while (drill.held() or drill.held_calls() or drill.held_recordings() or drill.held_transcriptions()) \
                and time.time() < deadline:
            time.sleep(0.5)
        emptied = time.time()
        left, calls_left, recordings_left = drill.held(), drill.held_calls(), drill.held_recordings()
        transcriptions_left = drill.held_transcriptions()
        deletes = drill.fake.admin("/_fake/deletes")
        call_deletes = drill.fake.admin("/_fake/call_deletes")
        recording_deletes = drill.fake.admin("/_fake/recording_deletes")
        transcription_deletes = drill.fake.admin("/_fake/transcription_deletes")
        ok = Counter(d["sid"] for d in deletes if d["status"] == 204)
        ok_calls = Counter(d["sid"] for d in call_deletes if d["status"] == 204)
        ok_recordings = Counter(d["sid"] for d in recording_deletes if d["status"] == 204)
        ok_transcriptions = Counter(d["sid"] for d in transcription_deletes if d["status"] == 204)
        results.update({
            "sent_by_api": args.members,
            "held_at_provider_after_last_text": len(held_at_peak),
            "delete_requests": len(deletes),
            "deleted": len(ok),
            "refused_20009": sum(1 for d in deletes if d["status"] == 409),
            "not_found_404": sum(1 for d in deletes if d["status"] == 404),
            "deleted_more_than_once": sum(1 for n in ok.values() if n > 1),
            "leftovers": len(left),
            "hotline_call_errors": sum(len(c["errors"]) for c in calls),
            "hotline_calls_held": len(call_sids),
            "call_delete_requests": len(call_deletes),
            "calls_deleted": len(set(ok_calls) & call_sids),
            "calls_refused_20009": sum(1 for d in call_deletes if d["status"] == 409),
            "calls_deleted_more_than_once": sum(1 for n in ok_calls.values() if n > 1),
            "calls_left": len(calls_left),
            "recordings_held": len(recording_sids),
            "recording_delete_requests": len(recording_deletes),
            "recordings_deleted": len(set(ok_recordings) & recording_sids),
            "recordings_deleted_more_than_once": sum(1 for n in ok_recordings.values() if n > 1),
            "recordings_left": len(recordings_left),
            "transcriptions_held": len(transcription_sids),
            "transcriptions_deleted": len(set(ok_transcriptions) & transcription_sids),
            "transcriptions_deleted_more_than_once": sum(1 for n in ok_transcriptions.values() if n > 1),
            "transcriptions_left": len(transcriptions_left),
            "seconds_from_last_text_to_empty": round(emptied - last_text, 1),
        })
    finally:
        drill.close()
    results["run_seconds"] = round(time.time() - started, 1)
    print(json.dumps(results, indent=2))
    expected = args.members + 2 * (args.inbound + 1)
    checks = [
        (f"every message held ({expected}: sends, texts in, replies) deleted",
         results["deleted"] >= expected and results["held_at_provider_after_last_text"] <= results["deleted"]),
        ("none deleted twice", results["deleted_more_than_once"] == 0),
        ("no leftovers at the provider", results["leftovers"] == 0),
        (f"every hotline call ({args.calls}) deleted, none twice, none left",
         results["calls_deleted"] == args.calls and results["calls_deleted_more_than_once"] == 0
         and results["calls_left"] == 0),
        (f"every recording ({(args.calls + 1) // 2}) deleted, none twice, none left",
         results["recordings_deleted"] == results["recordings_held"] == (args.calls + 1) // 2
         and results["recordings_deleted_more_than_once"] == 0 and results["recordings_left"] == 0),
        ("every transcription deleted, none twice, none left",
         results["transcriptions_deleted"] == results["transcriptions_held"] == results["recordings_held"]
         and results["transcriptions_deleted_more_than_once"] == 0 and results["transcriptions_left"] == 0),
    ]
    for name, passed in checks:
        print(f"{'PASS' if passed else 'FAIL'}  {name}")
    return 0 if all(passed for _, passed in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
