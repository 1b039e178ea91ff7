"""After a purge, neither the SQLite file nor its write-ahead log holds anything purged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from rapidresponse.cli import main
from rapidresponse.db import utcnow
from rapidresponse.incidents.models import Incident, ThreadEvent
from rapidresponse.incidents.responses import close_incident
from rapidresponse.incidents.states import IncidentStatus
from rapidresponse.members.models import Member
from rapidresponse.messaging.models import InboundMessage, OutboundMessage
from tests.cli.conftest import sqlite_bytes
from tests.conftest import Phone, add_member
from tests.storage.test_retention import age_everything, report_and_alert


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: PostgreSQL's files are the server's (see the README on VACUUM)."""
    return f"sqlite:///{tmp_path / 'purge.sqlite3'}"


def purged_tokens(svc: Any) -> list[bytes]:
    """Every ciphertext and blind index the purge is about to delete, as it lies on disk.

    Members' own blind indexes and number tokens (an alert reuses them) are left out: members
    are kept, so theirs stay.
    """
    with svc.db.session() as session:
        kept = {bytes(t) for t in session.scalars(select(Member.phone_token))}
        kept |= {i.encode() for i in session.scalars(select(Member.phone_index))}
        tokens: list[bytes] = []
        for inbound in session.scalars(select(InboundMessage)):
            tokens += [inbound.body_token, inbound.from_token, inbound.from_index.encode()]
        for out in session.scalars(select(OutboundMessage)):
            tokens += [out.body_token, out.to_token, out.to_index.encode()]
        for incident in session.scalars(select(Incident)):
            tokens += [incident.text_token, incident.reporter_token, incident.reporter_index.encode()]
        for event in session.scalars(select(ThreadEvent).where(ThreadEvent.body_token.is_not(None))):
            tokens.append(event.body_token)
    return [bytes(t) for t in tokens if bytes(t) not in kept]


def test_purged_rows_are_gone_from_the_file_and_its_wal(client, svc, env, monkeypatch):
    """A closed incident, its alerts, replies and a stranger's HELP leave no byte behind after `db purge`."""
    add_member(svc, "+12125550190", roles="responder", trees={"ice": 1})
    incident_id = report_and_alert(client, svc, "ICE raid at the Oak Street warehouse", "+12125550191")
    Phone(client, "+12125550190").reply_to("I see two vans on Oak")
    Phone(client, "+12125550192").reply_to("HELP")
    with svc.db.session() as session:
        close_incident(svc, session, session.get(Incident, incident_id), IncidentStatus.RESOLVED, utcnow(),
                       actor="coordinator #1")
    age_everything(svc, 90)
    tokens = purged_tokens(svc)
    assert len(tokens) > 10
    on_disk = sqlite_bytes(svc.settings.database_url)
    assert any(t in on_disk for t in tokens)  # the search itself finds what is there
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert main(["db", "purge", "--days", "60"]) == 0
    on_disk = sqlite_bytes(svc.settings.database_url)
    left = [t[:12] for t in tokens if t in on_disk]
    assert left == []
    for plain in (b"Oak Street", b"two vans", b"HELP", b"12125550191"):
        assert plain not in on_disk
