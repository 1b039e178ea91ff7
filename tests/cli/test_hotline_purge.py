"""What retention and a shred do to the hotline: calls and recordings go with their incidents, a
recording still at the provider keeps only its id until deleted there, and both commands say how many."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import responses
from sqlalchemy import func, select

from rapidresponse.db import utcnow
from rapidresponse.hotline.models import InboundCall, Recording
from rapidresponse.incidents.models import Incident
from rapidresponse.incidents.responses import close_incident
from rapidresponse.incidents.states import IncidentStatus
from rapidresponse.privacy.retention import purge
from tests.jobs.test_recording_deletes import TRANSCRIPTIONS_URL, transcriptions_page
from tests.web.hotline_phone import HotlineCall


def count(svc, model) -> int:
    with svc.db.session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def voice_report(client, number: str = "+12125550150", seconds: int = 30) -> None:
    call = HotlineCall(client, number)
    call.ring()
    call.press("1")
    call.speak(seconds)


def close_all(svc, days_ago: int) -> None:
    then = utcnow() - timedelta(days=days_ago)
    with svc.db.session() as session:
        for incident in session.scalars(select(Incident)):
            close_incident(svc, session, incident, IncidentStatus.RESOLVED, then, actor="test")
            incident.opened_at = then
        for call in session.scalars(select(InboundCall)):
            call.received_at = then
        for recording in session.scalars(select(Recording)):
            recording.created_at = then


def test_purge_deletes_old_calls_and_recordings_already_deleted_at_the_provider(client, svc):
    """An old closed voice report goes with its call and what we kept of its recording."""
    voice_report(client)
    close_all(svc, days_ago=90)
    with svc.db.session() as session:
        for recording in session.scalars(select(Recording)):
            recording.sid_token = None  # deleted at the provider already
    with svc.db.session() as session:
        purged = purge(session, utcnow() - timedelta(days=60))
    assert (purged.incidents, purged.calls, purged.recordings) == (1, 1, 1)
    assert count(svc, InboundCall) == 0 and count(svc, Recording) == 0


def test_a_recording_still_at_the_provider_keeps_only_its_id(client, svc):
    """Purged before its provider copy is gone: the row stays with its (encrypted) id, nothing else."""
    voice_report(client)
    close_all(svc, days_ago=90)
    with svc.db.session() as session:
        purged = purge(session, utcnow() - timedelta(days=60))
    assert purged.recordings == 0 and purged.calls == 1
    with svc.db.session() as session:
        kept = session.scalars(select(Recording)).one()
        assert kept.sid_token is not None and kept.incident_id is None and kept.transcript_token is None
        assert kept.call_id is None


def test_recent_and_open_reports_are_kept(client, svc):
    """A call in progress, an open voice report and a recent missed call are not purged."""
    voice_report(client)
    missed = HotlineCall(client, "+12125550151")
    missed.ring()
    missed.end()
    HotlineCall(client, "+12125550152").ring()
    with svc.db.session() as session:
        purged = purge(session, utcnow() - timedelta(days=60))
    assert (purged.calls, purged.recordings) == (0, 0)
    assert count(svc, InboundCall) == 3


def test_db_purge_says_how_many_calls_and_recordings(run, client, svc):
    """`db purge` reports hotline calls and recordings with the rest."""
    voice_report(client)
    close_all(svc, days_ago=90)
    with svc.db.session() as session:
        for recording in session.scalars(select(Recording)):
            recording.sid_token = None
    result = run("db", "purge")
    assert result.code == 0, result.err
    assert "1 hotline calls, 1 recordings" in result.out


def test_db_shred_deletes_recordings_at_the_provider_first_and_says_how_many(run, client, svc, monkeypatch):
    """A shred first deletes at the provider what it still holds, then every call and recording row."""
    voice_report(client)
    voice_report(client, "+12125550153")
    monkeypatch.setattr("sys.stdin", io.StringIO("SHRED\n"))
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, TRANSCRIPTIONS_URL, json=transcriptions_page())
        mock.add(responses.DELETE, re.compile(r"https://api\.twilio\.com/.*/Recordings/RE\w+\.json"), status=204)
        mock.add(responses.DELETE, re.compile(r"https://api\.twilio\.com/.*/Recordings/RE\w+\.json"), status=204)
        result = run("db", "shred")
    assert result.code == 0, result.err
    assert "2 hotline calls, 2 recordings" in result.out
    assert "2 recordings deleted at the provider first" in result.out
    assert count(svc, InboundCall) == 0 and count(svc, Recording) == 0
