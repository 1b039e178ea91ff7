"""The console's side of the hotline: missed calls with an audited call-back, and a voice report's
recording played through our server (the provider's media URL never reaches the browser)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import responses
from sqlalchemy import select

from rapidresponse import audit
from rapidresponse.audit.models import AuditEvent
from rapidresponse.db import utcnow
from rapidresponse.hotline import service as hotline
from rapidresponse.hotline.models import CallOutcome, InboundCall, Recording
from rapidresponse.incidents.models import Incident, ThreadEvent
from rapidresponse.settings import Settings
from tests import conftest
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, PUBLIC_BASE_URL, fresh_services, signed_post
from tests.web.hotline_phone import HotlineCall
from tests.web.test_console_auth import add_coordinator, sign_in

CALLER = "+12125554521"
RECORDING_MEDIA = re.compile(rf"https://api\.twilio\.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/(RE\w+)\.wav")


@pytest.fixture
def coordinator_id(client, svc) -> int:
    coordinator_id = add_coordinator(svc)
    assert sign_in(client).status_code == 302
    return coordinator_id


def missed_call(client, number: str = CALLER) -> HotlineCall:
    call = HotlineCall(client, number)
    call.ring()
    call.end()
    return call


def test_a_missed_call_is_listed_masked(client, svc, coordinator_id):
    """A caller who hung up at the menu shows as "missed hotline call from …4521", counted in the nav."""
    missed_call(client)
    page = client.get("/calls").get_data(as_text=True)
    assert "missed hotline call from …4521" in page
    assert CALLER not in page and "2125554521" not in page
    assert "Call back" in page
    assert 'Missed calls <b class="badge">1</b>' in client.get("/incidents").get_data(as_text=True)


def test_call_back_shows_the_number_once_audited(client, svc, coordinator_id):
    """Call back reveals the number as a tel: link to this coordinator, and the audit log says so."""
    missed_call(client)
    [call] = hotline_calls(svc)
    page = client.post(f"/calls/{call.id}/call-back").get_data(as_text=True)
    assert f'href="tel:{CALLER}"' in page
    with svc.db.session() as session:
        entry = session.scalars(select(AuditEvent).where(AuditEvent.action == audit.AuditAction.REVEAL.value)).one()
        assert (entry.actor_id, entry.target, entry.target_id) == (coordinator_id, "call", call.id)
    assert CALLER not in client.get("/calls").get_data(as_text=True)  # once, not from then on


def test_a_withheld_missed_call_cannot_be_called_back(client, svc, coordinator_id):
    """A withheld caller is listed, without a call-back (nothing to call, nothing revealed)."""
    missed_call(client, "+266696687")
    [call] = hotline_calls(svc)
    page = client.get("/calls").get_data(as_text=True)
    assert "missed hotline call from a withheld number" in page and "Call back" not in page
    assert client.post(f"/calls/{call.id}/call-back").status_code == 404


def test_dealt_with_takes_it_off_the_list(client, svc, coordinator_id):
    """"Dealt with" removes the missed call from the list and records who."""
    missed_call(client)
    [call] = hotline_calls(svc)
    response = client.post(f"/calls/{call.id}/done", follow_redirects=True)
    assert "Marked as dealt with." in response.get_data(as_text=True)
    assert "missed hotline call from" not in client.get("/calls").get_data(as_text=True)
    [done] = hotline_calls(svc)
    assert done.outcome == CallOutcome.CALLED_BACK.value and done.handled_by == coordinator_id


def test_missed_calls_need_a_sign_in(client, svc):
    """Signed out, the missed-calls page and its buttons send you to sign in."""
    assert client.get("/calls").status_code == 302
    assert client.post("/calls/1/call-back").status_code == 302


def test_a_call_never_ended_becomes_missed_after_a_while(client, svc):
    """Without the number's status callback, the sweep gives up on a call 15 minutes old."""
    HotlineCall(client, CALLER).ring()
    with svc.db.session() as session:
        assert hotline.give_up_stale_calls(session, utcnow()) == 0
        assert hotline.give_up_stale_calls(session, utcnow() + timedelta(minutes=16)) == 1
    assert hotline_calls(svc)[0].outcome == CallOutcome.MISSED.value


def hotline_calls(svc) -> list[InboundCall]:
    with svc.db.session() as session:
        found = list(session.scalars(select(InboundCall).order_by(InboundCall.id)))
        session.expunge_all()
        return found


def voice_report(client, svc, seconds: int = 34) -> tuple[Incident, HotlineCall]:
    call = HotlineCall(client, CALLER)
    call.ring()
    call.press("1")
    call.speak(seconds)
    with svc.db.session() as session:
        incident = session.scalars(select(Incident)).one()
        session.expunge(incident)
    return incident, call


def test_the_incident_page_plays_the_recording_through_our_server(client, svc, coordinator_id):
    """The page has a player whose source is our URL; the provider's media URL and SID are not on it."""
    incident, call = voice_report(client, svc)
    page = client.get(f"/incidents/{incident.id}").get_data(as_text=True)
    assert "voice report, 34 s" in page
    [src] = re.findall(r'<audio[^>]* src="([^"]+)"', page)
    assert src.startswith(f"/incidents/{incident.id}/recordings/")
    assert "api.twilio.com" not in page and call.recording_sid not in page


def test_the_audio_is_fetched_with_the_account_credentials(client, svc, coordinator_id):
    """Our server GETs the media with the account's credentials and streams it, not cached; audited once."""
    incident, call = voice_report(client, svc)
    page = client.get(f"/incidents/{incident.id}").get_data(as_text=True)
    [src] = re.findall(r'<audio[^>]* src="([^"]+)"', page)
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, RECORDING_MEDIA, body=b"RIFF....WAVE", content_type="audio/x-wav")
        audio = client.get(src)
        again = client.get(src, headers={"Range": "bytes=100-"})
        [first, *_] = mock.calls
        assert first.request.url.endswith(f"/Recordings/{call.recording_sid}.wav")
        assert first.request.headers["Authorization"].startswith("Basic ")
    assert audio.status_code == 200 and audio.data == b"RIFF....WAVE" and audio.mimetype == "audio/x-wav"
    assert audio.headers["Cache-Control"] == "no-store" and again.status_code == 200
    with svc.db.session() as session:
        listens = session.scalars(select(AuditEvent).where(AuditEvent.action == audit.AuditAction.LISTEN.value)).all()
        assert [(e.actor_id, e.target) for e in listens] == [(coordinator_id, "recording")]


def test_the_audio_needs_a_sign_in_and_the_right_incident(client, svc):
    """Signed out: to sign in. Another incident's id, or a recording deleted at the provider: 404."""
    incident, _ = voice_report(client, svc)
    with svc.db.session() as session:
        recording = session.scalars(select(Recording)).one()
    assert client.get(f"/incidents/{incident.id}/recordings/{recording.id}").status_code == 302
    add_coordinator(svc)
    sign_in(client)
    assert client.get(f"/incidents/{incident.id + 1}/recordings/{recording.id}").status_code == 404
    with svc.db.session() as session:
        session.get(Recording, recording.id).sid_token = None  # type: ignore[union-attr]
    assert client.get(f"/incidents/{incident.id}/recordings/{recording.id}").status_code == 404
    page = client.get(f"/incidents/{incident.id}").get_data(as_text=True)
    assert "deleted at the provider" in page and "<audio" not in page


def test_a_provider_refusal_is_a_502_not_a_500(client, svc, coordinator_id):
    """Twilio failing to hand over the audio gets a clear 502; gone there is a 404."""
    incident, _ = voice_report(client, svc)
    with svc.db.session() as session:
        recording_id = session.scalars(select(Recording.id)).one()
    url = f"/incidents/{incident.id}/recordings/{recording_id}"
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, RECORDING_MEDIA, status=500)
        assert client.get(url).status_code == 502
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, RECORDING_MEDIA, status=404)
        assert client.get(url).status_code == 404


@pytest.fixture
def transcribing(tmp_path, database_url):
    settings = Settings.from_env(conftest.test_env(tmp_path, database_url, VOICE_TRANSCRIBE="on"))
    with fresh_services(settings) as services:
        yield services


def test_english_recordings_are_transcribed_into_the_thread(transcribing):
    """VOICE_TRANSCRIBE=on: an English recording asks for Twilio's transcription; its callback's text
    lands on the thread, encrypted, once; a Spanish recording is not transcribed."""
    svc = transcribing
    client = conftest.testing_app(svc).test_client()
    call = HotlineCall(client, CALLER)
    call.ring()
    prompt = call.press("1")
    record = prompt.record
    assert record is not None and record.get("transcribe") == "true"
    callback = record.get("transcribeCallback", "")
    assert callback == PUBLIC_BASE_URL + "/twilio/voice?step=transcript&lang=en"
    call.speak(30)
    form = {"CallSid": call.sid, "RecordingSid": call.recording_sid, "TranscriptionText": "Two vans at 5th and Main",
            "TranscriptionStatus": "completed", "AccountSid": ACCOUNT_SID}
    for _ in range(2):
        response = signed_post(client, "/twilio/voice", form, query="step=transcript&lang=en")
        assert response.status_code == 204
    with svc.db.session() as session:
        [line] = session.scalars(select(ThreadEvent).where(ThreadEvent.kind == "transcript")).all()
        assert line.body_token is not None and b"vans" not in line.body_token
        assert svc.cipher.decrypt(line.body_token) == "Two vans at 5th and Main"
    spanish = HotlineCall(client, "+12125550190")
    spanish.ring()
    spanish.press("9")
    assert spanish.press("1").record.get("transcribe") is None  # type: ignore[union-attr]


def test_a_forged_transcript_is_refused(transcribing):
    """The transcription callback is signed like every other request."""
    client = conftest.testing_app(transcribing).test_client()
    form = {"RecordingSid": "RE" + "0" * 32, "TranscriptionText": "x", "TranscriptionStatus": "completed"}
    response = signed_post(client, "/twilio/voice", form, query="step=transcript", token=AUTH_TOKEN + "x")
    assert response.status_code == 403
