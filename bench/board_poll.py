"""The live board's poll: how long /incidents/board.json takes, and how big it is, with N open incidents.

    python -m bench.board_poll [--open 10 100] [--closed 30] [--polls 30] [--database-url URL]

--database-url must name an empty database (one per size); SQLite in a temporary folder by default.

Each open incident has three layers, its first layer alerted (texts recorded in the outbox, none
sent), half its verifiers answering YES; --closed incidents are resolved. A signed-in test client
polls the JSON as the page's script does (every 5 s there). Needs a Redis at REDIS_URL (only for
start-up). Prints, per size: p50 / p95 / max answer time and the answer's size.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from cryptography.fernet import Fernet
from werkzeug.security import generate_password_hash

from rapidresponse import create_app
from rapidresponse.cli import db_upgrade
from rapidresponse.console.models import new_coordinator
from rapidresponse.db import utcnow
from rapidresponse.escalation import service as escalation
from rapidresponse.incidents import service as incidents
from rapidresponse.incidents.responses import answer, close_incident
from rapidresponse.incidents.states import IncidentStatus
from rapidresponse.members import registry
from rapidresponse.members.models import Member
from rapidresponse.services import build_services
from rapidresponse.settings import Settings

EMAIL, PASSWORD = "bench@example.org", "bench password 0123"


def run(open_count: int, closed: int, polls: int, database_url: str | None) -> str:
    folder = Path(tempfile.mkdtemp(prefix="board-poll-"))
    env = {
        "SECRET_KEY": "bench-secret-key-0123456789", "DATA_KEY": Fernet.generate_key().decode(),
        "DATABASE_URL": database_url or f"sqlite:///{folder / 'board.sqlite3'}",
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        "PUBLIC_BASE_URL": "http://127.0.0.1:5000", "QUEUE_PREFIX": f"bench-board-{os.getpid()}:",
        "LOG_LEVEL": "WARNING",
    }
    settings = Settings.from_env(env)
    db_upgrade(settings.database_url)
    svc = build_services(settings)
    try:
        now = utcnow()
        with svc.db.session() as session:
            members = []
            for i in range(12):
                m = registry.new_member(svc.cipher, f"+1212555{1000 + i:04d}", language="en", zone=None,
                                        roles=registry.parse_roles("responder"), trees={"ice": 1 + i % 3})
                m.consented_at = now
                session.add(m)
                members.append(m)
            session.add(new_coordinator(svc.cipher, EMAIL, generate_password_hash(PASSWORD)))
            session.flush()
            member_ids = [m.id for m in members]
        tree = svc.trees.trees["ice"]
        for i in range(open_count + closed):
            with svc.db.session() as session:
                incident = incidents.open_incident(session, svc.cipher, tree, text=f"ICE report {i}",
                                                   reporter_phone=f"+1646555{2000 + i:04d}", reporter=None,
                                                   inbound_id=None, now=now)
                session.flush()
                escalation.evaluate(svc, session, incident.id, now)
                verifiers = [session.get(Member, member_ids[j]) for j in range(0, 12, 3)]
                for member in verifiers[: len(verifiers) // 2]:
                    assert member is not None
                    answer(svc, session, member, incident, True, now)
                if i >= open_count:
                    close_incident(svc, session, incident, IncidentStatus.RESOLVED, now, actor="bench")
        app = create_app(services=svc)
        app.config["WTF_CSRF_ENABLED"] = False
        client = app.test_client()
        assert client.post("/login", data={"email": EMAIL, "password": PASSWORD}).status_code == 302
        times, size = [], 0
        for _ in range(polls):
            started = time.perf_counter()
            response = client.get("/incidents/board.json?seen=1")
            times.append(time.perf_counter() - started)
            assert response.status_code == 200, response.status_code
            size = len(response.data)
        times.sort()
        return (f"{open_count} open + {closed} closed incidents: board.json"
                f" p50 {statistics.median(times) * 1000:.0f} ms,"
                f" p95 {times[int(len(times) * 0.95) - 1] * 1000:.0f} ms, max {times[-1] * 1000:.0f} ms,"
                f" {size / 1024:.0f} KiB")
    finally:
        svc.redis.close()
        svc.db.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--open", type=int, nargs="+", default=[10, 100])
    parser.add_argument("--closed", type=int, default=30)
    parser.add_argument("--polls", type=int, default=30)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    for count in args.open:
        print(run(count, args.closed, args.polls, args.database_url), flush=True)


if __name__ == "__main__":
    main()
