"""Campaign pacing benchmark: many members text CALL at once; the bridges to each target never
exceed CAMPAIGN_CALLS_PER_TARGET at a time, the rest hold and are connected as lines free up.

    python -m bench.campaign_pacing [--members 12] [--targets 2] [--per-target 2] [--talk-seconds 40]
                                    [--scale 0.05] [--workers 2]

Runs the end-to-end stack of tests/e2e/harness.py (the web app on a real port, real RQ workers in
subprocesses, SQLite, the real Redis) with the loopback fake Twilio playing every call and bridge
as Twilio would; `--scale` real seconds pass per second of a bridged call or a hold's <Pause>
(0.05: a 40 s call takes 2 s, a 20 s hold 1 s). Every member texts CALL from its own thread.

Prints JSON: the limit, the most bridged legs the fake saw at once to each target (from the legs'
answer and end times at the fake, so never more than the app allowed), how many calls were bridged,
how many members gave up after the longest hold, and the wall time. Exit status 1 if any target
ever had more than the limit.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from rapidresponse.campaigns.models import CallState, Campaign, CampaignCall
from tests.e2e.harness import Stack, wait_until
from tests.web.campaign_helpers import make_campaign


def most_at_once(intervals: list[tuple[float, float]]) -> int:
    """The most intervals open at one moment (an end at the same instant as a start frees first)."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals],
                    key=lambda e: (e[0], e[1]))
    most = now = 0
    for _, step in events:
        now += step
        most = max(most, now)
    return most


def run(members: int, targets: int, per_target: int, talk_seconds: int, scale: float, workers: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack(Path(tmp), play_calls=True, CAMPAIGN_CALLS_PER_TARGET=str(per_target), CALLS_PER_SECOND="50",
                      PROVIDER_DELETE="off")
        try:
            stack.fake.configure(dial_talk_seconds=talk_seconds, real_seconds_per_second=scale)
            numbers = [f"+1312555{8000 + i:04d}" for i in range(targets)]
            phones = [f"+1212555{7000 + i:04d}" for i in range(members)]
            for phone in phones:
                stack.member(phone)
            campaign_id = make_campaign(stack.svc, ask=False, join=True,
                                        targets="\n".join(f"Office {i + 1}, {n}" for i, n in enumerate(numbers)))
            for _ in range(workers):
                stack.start_worker()
            started = time.monotonic()
            with ThreadPoolExecutor(max_workers=min(members, 16)) as pool:
                list(pool.map(lambda phone: stack.text(phone, "CALL"), phones))

            def all_over() -> bool:
                with stack.svc.db.session() as session:
                    open_calls = session.scalar(select(func.count()).select_from(CampaignCall).where(
                        CampaignCall.state != CallState.ENDED.value)) or 0
                    made = session.scalar(select(func.count()).select_from(CampaignCall)) or 0
                return made == members and open_calls == 0

            wait_until(all_over, timeout=600, interval=0.2)
            stack.fake.wait_for_calls(timeout=120)
            took = time.monotonic() - started
            most = {}
            for number in numbers:
                legs = [(c["start_time"], c["end_time"]) for c in stack.fake.calls_to(number)
                        if c["start_time"] and c["end_time"]]
                most[number] = most_at_once(legs)
            with stack.svc.db.session() as session:
                campaign = session.get(Campaign, campaign_id)
                assert campaign is not None
                bridged = campaign.calls_bridged
                held = session.scalar(select(func.count()).select_from(CampaignCall).where(
                    CampaignCall.campaign_id == campaign_id, CampaignCall.holds > 0)) or 0
                gave_up = session.scalar(select(func.count()).select_from(CampaignCall).where(
                    CampaignCall.campaign_id == campaign_id, CampaignCall.target_id.is_(None))) or 0
            return {"members": members, "targets": targets, "per_target_limit": per_target,
                    "talk_seconds": talk_seconds, "scale": scale, "workers": workers,
                    "most_bridged_at_once": most, "pacing_held": all(n <= per_target for n in most.values()),
                    "calls_bridged": bridged, "held_before_a_line_was_free": held,
                    "gave_up_after_holding": gave_up, "wall_seconds": round(took, 1)}
        finally:
            stack.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=12)
    parser.add_argument("--targets", type=int, default=2)
    parser.add_argument("--per-target", type=int, default=2)
    parser.add_argument("--talk-seconds", type=int, default=40)
    parser.add_argument("--scale", type=float, default=0.05)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    result = run(args.members, args.targets, args.per_target, args.talk_seconds, args.scale, args.workers)
    print(json.dumps(result, indent=2))
    return 0 if result["pacing_held"] else 1


if __name__ == "__main__":
    sys.exit(main())
