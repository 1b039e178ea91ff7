"""Hotline recordings deleted at the provider (the Recordings resource) through the texts' own
delete machinery: RECORDING_KEEP_HOURS after their incident closes, at once when they opened
none, at the latest by retention; refusals retried with backoff; what our row keeps after."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import responses
from sqlalchemy import select

from rapidresponse.db import utcnow
from rapidresponse.hotline.models import Recording, recording_sid_index
from rapidresponse.incidents.models import Incident
from rapidresponse.messaging import deletes
from tests.conftest import ACCOUNT_SID, row

DELAY = timedelta(seconds=5)
KEPT = deletes.RecordingsKept(after_close=timedelta(hours=24), at_most=timedelta(days=60))
RECORDING_URL = re.compile(rf"https://api\.twilio\.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/(RE\w+)\.json")
NOT_YET = {"code": 20009, "message": "Unable to delete record", "status": 409}
TRANSCRIPTIONS_URL = re.compile(
    rf"https://api\.twilio\.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/(RE\w+)/Transcriptions\.json")
TRANSCRIPTION_URL = re.compile(rf"https://api\.twilio\.com/2010-04-01/Accounts/{ACCOUNT_SID}/Transcriptions/(TR\w+)\.json")


def transcriptions_page(*sids: str, recording_sid: str = "RE" + "0" * 32) -> dict[str, object]:
    """Twilio's list of a recording's transcriptions."""
    uri = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{recording_sid}/Transcriptions.json"
    return {"transcriptions": [{"sid": sid, "recording_sid": recording_sid, "status": "completed",
                                "transcription_text": "two vans", "account_sid": ACCOUNT_SID} for sid in sids],
            "first_page_uri": uri, "next_page_uri": None, "previous_page_uri": None, "page": 0, "page_size": 50,
            "start": 0, "end": max(0, len(sids) - 1), "uri": uri}


def incident(svc, *, closed_at=None) -> int:
    with svc.db.session() as session:
        found = Incident(code="K7", open_code=None if closed_at else "K7",
                         status="resolved" if closed_at else "reported",
                         text_token=svc.cipher.encrypt("voice report, 30 s"), reporter_index="x",
                         reporter_token=svc.cipher.encrypt("withheld"), plan_token=b"", closed_at=closed_at)
        session.add(found)
        session.flush()
        return found.id


def recording(svc, sid: str, *, at, incident_id: int | None = None) -> int:
    with svc.db.session() as session:
        made = Recording(sid_index=recording_sid_index(svc.cipher, sid), sid_token=svc.cipher.encrypt(sid),
                         incident_id=incident_id, duration_seconds=30, created_at=at,
                         transcript_token=svc.cipher.encrypt("two vans"))
        session.add(made)
        session.flush()
        return made.id


def due(svc, now) -> list[int]:
    with svc.db.session() as session:
        return deletes.claim_due(session, now, DELAY, recordings=KEPT).recordings


@pytest.fixture
def recordings_api():
    """Twilio's Recordings API, mocked; a recording has no transcriptions unless a test says so."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add(responses.GET, TRANSCRIPTIONS_URL, json=transcriptions_page())
        yield mock


def deletes_made(mock: responses.RequestsMock) -> list[str]:
    return [c.request.url.rsplit("/", 1)[-1].removesuffix(".json") for c in mock.calls if c.request.method == "DELETE"]


def test_a_recording_is_kept_while_its_incident_is_open_and_for_the_keep_hours_after(svc):
    """Open incident: kept. Closed 23 h ago: kept. Closed 25 h ago: due."""
    now = utcnow()
    open_one = recording(svc, "RE" + "1" * 32, at=now - timedelta(days=2), incident_id=incident(svc))
    recent = recording(svc, "RE" + "2" * 32, at=now - timedelta(days=2),
                       incident_id=incident(svc, closed_at=now - timedelta(hours=23)))
    old = recording(svc, "RE" + "3" * 32, at=now - timedelta(days=2),
                    incident_id=incident(svc, closed_at=now - timedelta(hours=25)))
    assert due(svc, now) == [old]
    assert due(svc, now) == []  # claimed: the next sweep leaves it be
    assert open_one and recent


def test_a_recording_without_an_incident_goes_after_the_delay(svc):
    """Too short to report (a missed call): deleted once the provider's processing is done."""
    now = utcnow()
    fresh = recording(svc, "RE" + "4" * 32, at=now)
    assert due(svc, now) == []
    assert due(svc, now + DELAY + timedelta(seconds=1)) == [fresh]


def test_retention_caps_how_long_a_recording_is_kept(svc):
    """An incident open longer than RETENTION_DAYS still loses its recording at the provider."""
    now = utcnow()
    ancient = recording(svc, "RE" + "5" * 32, at=now - timedelta(days=61), incident_id=incident(svc))
    assert due(svc, now) == [ancient]


def test_deleted_through_the_recordings_resource_and_forgotten(svc, recordings_api):
    """DELETE .../Recordings/RE....json; then our row keeps its length and transcript, not the SID."""
    now = utcnow()
    sid = "RE" + "6" * 32
    rid = recording(svc, sid, at=now - timedelta(hours=1))
    recordings_api.add(responses.DELETE, RECORDING_URL, status=204)
    done = deletes.delete_claimed(svc, deletes.Due(recordings=due(svc, now)), lambda: now)
    assert done.deleted == 1
    assert recordings_api.calls[0].request.url.split("?")[0].endswith(f"/Recordings/{sid}/Transcriptions.json")
    assert recordings_api.calls[1].request.url.endswith(f"/Recordings/{sid}.json")
    kept = row(svc, Recording, rid)
    assert kept.sid_token is None and kept.provider_deleted_at is not None
    assert kept.duration_seconds == 30 and svc.cipher.decrypt(kept.transcript_token) == "two vans"
    assert due(svc, now + timedelta(days=1)) == []


def test_a_refusal_is_tried_again_later_and_404_counts_as_done(svc, recordings_api):
    """20009 (not yet deletable): retried with backoff; 404 (already gone): done."""
    now = utcnow()
    refused = recording(svc, "RE" + "7" * 32, at=now - timedelta(hours=1))
    gone = recording(svc, "RE" + "8" * 32, at=now - timedelta(hours=1))
    recordings_api.add(responses.DELETE, re.compile(r".*/Recordings/RE7+\.json"), status=409, json=NOT_YET)
    recordings_api.add(responses.DELETE, re.compile(r".*/Recordings/RE8+\.json"), status=404,
                       json={"code": 20404, "message": "not found", "status": 404})
    done = deletes.delete_claimed(svc, deletes.Due(recordings=due(svc, now)), lambda: now)
    assert (done.deleted, done.already_gone, done.retry) == (0, 1, 1)
    again = row(svc, Recording, refused)
    assert again.sid_token is not None and again.delete_attempts == 1
    assert again.delete_after == now + deletes.retry_after(1)
    assert row(svc, Recording, gone).sid_token is None
    assert due(svc, now + timedelta(seconds=30)) == []
    assert due(svc, now + timedelta(minutes=2)) == [refused]


def test_the_sweep_queues_recordings_with_the_texts(svc):
    """queue_provider_deletes claims recordings as it claims texts (one bulk job for both)."""
    from rapidresponse.jobs import queues
    from rapidresponse.jobs.tasks import queue_provider_deletes

    now = utcnow()
    rid = recording(svc, "RE" + "9" * 32, at=now - timedelta(hours=1))
    assert queue_provider_deletes(svc, now) == 1
    [job] = queues.queue(svc, queues.BULK).get_jobs()
    assert list(job.args) == [[], [], [rid], [], []]  # texts out, texts in, recordings, hotline calls, bridged legs
    with svc.db.session() as session:
        assert session.scalar(select(Recording.delete_after).where(Recording.id == rid)) is not None


def test_its_transcriptions_are_deleted_first_then_the_recording(svc):
    """Twilio keeps a transcription (with its text) as a resource of its own: each one listed under
    the recording is deleted (one already gone counts as done), then the recording."""
    now = utcnow()
    sid, first, gone = "RE" + "a" * 32, "TR" + "1" * 32, "TR" + "2" * 32
    recording(svc, sid, at=now - timedelta(hours=1))
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, TRANSCRIPTIONS_URL, json=transcriptions_page(first, gone, recording_sid=sid))
        mock.add(responses.DELETE, re.compile(rf".*/Transcriptions/{first}\.json"), status=204)
        mock.add(responses.DELETE, re.compile(rf".*/Transcriptions/{gone}\.json"), status=404,
                 json={"code": 20404, "message": "not found", "status": 404})
        mock.add(responses.DELETE, RECORDING_URL, status=204)
        done = deletes.delete_claimed(svc, deletes.Due(recordings=due(svc, now)), lambda: now)
        assert deletes_made(mock) == [first, gone, sid]
    assert done.deleted == 1


def test_a_refused_transcription_delete_keeps_the_recording_for_the_retry(svc):
    """A transcription Twilio will not delete yet: the recording stays too (its list is how the
    transcription is found again), and the whole delete is tried again with backoff."""
    now = utcnow()
    sid, transcription = "RE" + "b" * 32, "TR" + "3" * 32
    rid = recording(svc, sid, at=now - timedelta(hours=1))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add(responses.GET, TRANSCRIPTIONS_URL, json=transcriptions_page(transcription, recording_sid=sid))
        mock.add(responses.DELETE, TRANSCRIPTION_URL, status=409, json=NOT_YET)
        mock.add(responses.DELETE, RECORDING_URL, status=204)
        done = deletes.delete_claimed(svc, deletes.Due(recordings=due(svc, now)), lambda: now)
        assert deletes_made(mock) == [transcription]
    assert (done.deleted, done.retry) == (0, 1)
    kept = row(svc, Recording, rid)
    assert kept.sid_token is not None and kept.delete_attempts == 1
