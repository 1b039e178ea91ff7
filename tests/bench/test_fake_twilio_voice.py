"""The fake Twilio's voice: Calls and Recordings resources, and calls played against an application
as Twilio plays them (signed requests, scripted callers, voicemail, busy, no-answer, failed)."""

from __future__ import annotations

import base64
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from flask import Flask, request
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import VoiceResponse
from werkzeug.serving import make_server

from bench.fake_twilio import FakeTwilio, twilio_client
from bench.fake_twilio.voice import HANG_UP, Speak

FROM = "+15559990000"
CALLEE = "+15550001234"
TARGET = "+15550004321"


class App:
    """A little voice application: a menu, a recording, and every request it was sent."""

    def __init__(self, token: str) -> None:
        self.requests: list[tuple[str, dict[str, str], bool]] = []
        validator = RequestValidator(token)
        flask = Flask(__name__)

        def seen() -> None:
            url = request.url
            params = request.form.to_dict() if request.method == "POST" else {}
            signed = validator.validate(url, params, request.headers.get("X-Twilio-Signature", ""))
            self.requests.append((request.full_path.rstrip("?"), request.values.to_dict(), signed))

        @flask.route("/voice", methods=["GET", "POST"])
        def voice() -> str:
            seen()
            response = VoiceResponse()
            gather = response.gather(action="/pressed", num_digits=1, action_on_empty_result=True)
            gather.say("Press 1 to report.", language="en-US")
            return str(response)

        @flask.post("/pressed")
        def pressed() -> str:
            seen()
            response = VoiceResponse()
            if request.form.get("Digits") != "1":
                response.say("Goodbye.")
                response.hangup()
                return str(response)
            response.say("Speak after the beep.")
            response.record(action="/recorded", max_length=120, finish_on_key="#", transcribe=True,
                            transcribe_callback="/transcript")
            response.say("Nothing recorded.")
            return str(response)

        @flask.post("/recorded")
        def recorded() -> str:
            seen()
            response = VoiceResponse()
            response.say("Thank you.")
            return str(response)

        @flask.post("/bridge")
        def bridge() -> str:
            seen()
            response = VoiceResponse()
            response.say("Connecting you.")
            dial = response.dial(caller_id=FROM, action="/dialled", time_limit=600)
            dial.number(TARGET, status_callback="/leg", status_callback_event="answered completed")
            return str(response)

        @flask.post("/dialled")
        def dialled() -> str:
            seen()
            response = VoiceResponse()
            response.say("Thanks for calling.")
            response.hangup()
            return str(response)

        @flask.post("/transcript")
        @flask.post("/status")
        @flask.post("/leg")
        def quiet() -> tuple[str, int]:
            seen()
            return "", 204

        self.server = make_server("127.0.0.1", 0, flask, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def paths(self) -> list[str]:
        return [path for path, _, _ in self.requests]

    def form(self, path: str) -> dict[str, str]:
        return next(form for p, form, _ in self.requests if p.startswith(path))


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    with FakeTwilio(play_calls=True) as f:
        yield f


@pytest.fixture
def app(fake: FakeTwilio) -> Iterator[App]:
    a = App(fake.auth_token)
    yield a
    a.server.shutdown()
    a.server.server_close()


@pytest.fixture
def client(fake):
    c = twilio_client(fake)
    yield c
    c.http_client.close()


def place(client, app: App, **kwargs):
    return client.calls.create(to=CALLEE, from_=FROM, url=app.url + "/voice", status_callback=app.url + "/status",
                               status_callback_event=["initiated", "ringing", "answered", "completed"], **kwargs)


def test_an_answered_call_follows_the_applications_twiml_with_signed_requests(fake, client, app):
    """The callee presses 1 and records 34 s: the fake fetches the TwiML, posts the keypress and the
    recording, then the transcription, every request signed as Twilio signs them."""
    fake.script_call(CALLEE, ["1", Speak(34, "two vans on 5th", "#")])
    call = place(client, app)
    assert call.sid.startswith("CA") and call.status == "queued"
    assert fake.wait_for_calls()
    played = fake.get_call(call.sid)
    assert played["status"] == "completed" and played["heard"] == [
        "Press 1 to report.", "Speak after the beep.", "Thank you."]
    assert played["pressed"] == ["1"] and len(played["recordings"]) == 1
    assert all(signed for _, _, signed in app.requests)
    statuses = [form["CallStatus"] for path, form, _ in app.requests if path == "/status"]
    assert statuses == ["initiated", "ringing", "in-progress", "completed"]
    recorded = app.form("/recorded")
    assert recorded["RecordingDuration"] == "34" and recorded["Digits"] == "#"
    assert recorded["RecordingUrl"] == fake.recording_url(played["recordings"][0])
    transcript = app.form("/transcript")
    assert transcript["TranscriptionText"] == "two vans on 5th" and transcript["TranscriptionStatus"] == "completed"
    assert app.paths().index("/transcript") > app.paths().index("/status")  # posted after the call
    assert client.calls(call.sid).fetch().status == "completed"


def test_a_recording_needs_the_account_credentials_and_can_be_deleted(fake, client, app):
    """The media is served only with the account's credentials; DELETE removes it (then 404)."""
    fake.script_call(CALLEE, ["1", Speak(3, "", "#")])
    place(client, app)
    assert fake.wait_for_calls()
    sid = fake.recordings[0]["sid"]
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(fake.recording_url(sid), timeout=5)  # noqa: S310 - loopback
    assert refused.value.code == 401
    refused.value.close()
    token = base64.b64encode(f"{fake.account_sid}:{fake.auth_token}".encode()).decode()
    authorized = urllib.request.Request(fake.recording_url(sid), headers={"Authorization": f"Basic {token}"})
    with urllib.request.urlopen(authorized, timeout=5) as media:  # noqa: S310 - loopback
        assert media.status == 200 and media.headers["Content-Type"] == "audio/x-wav"
        assert media.read().startswith(b"RIFF")
    assert client.recordings(sid).fetch().duration == "3"
    assert client.recordings(sid).delete() is True
    assert fake.recordings == [] and fake.recording_deletes[0]["status"] == 204
    with pytest.raises(TwilioRestException) as gone:
        client.recordings(sid).delete()
    assert gone.value.status == 404


def test_a_transcription_is_a_resource_of_its_own_that_outlives_its_recordings_delete(fake, client, app):
    """The built-in transcription stays at the provider, listed under its recording, fetched with
    its text, and deleted only by its own DELETE: deleting the recording leaves it there."""
    fake.script_call(CALLEE, ["1", Speak(20, "two vans on 5th", "#")])
    place(client, app)
    assert fake.wait_for_calls()
    recording_sid = fake.recordings[0]["sid"]
    [listed] = client.recordings(recording_sid).transcriptions.list()
    assert listed.sid == app.form("/transcript")["TranscriptionSid"]
    assert client.transcriptions(listed.sid).fetch().transcription_text == "two vans on 5th"
    assert client.recordings(recording_sid).delete() is True
    assert [t["sid"] for t in fake.transcriptions] == [listed.sid]
    assert client.transcriptions(listed.sid).delete() is True
    assert fake.transcriptions == [] and fake.transcription_deletes[0]["status"] == 204
    with pytest.raises(TwilioRestException) as gone:
        client.transcriptions(listed.sid).delete()
    assert gone.value.status == 404


def test_voicemail_presses_nothing_and_says_so_with_machine_detection(fake, client, app):
    """A call that goes to voicemail is answered by a machine: no keys, AnsweredBy machine_start."""
    fake.script_call(CALLEE, ["1"], fate="voicemail")
    call = place(client, app, machine_detection="Enable")
    assert fake.wait_for_calls()
    played = fake.get_call(call.sid)
    assert played["answered_by"] == "machine_start" and played["pressed"] == [""]
    assert app.form("/pressed").get("Digits") is None  # actionOnEmptyResult: called without Digits
    assert app.form("/voice")["AnsweredBy"] == "machine_start"
    assert played["heard"] == ["Press 1 to report.", "Goodbye."]


@pytest.mark.parametrize("fate", ["busy", "no-answer", "failed"])
def test_unanswered_calls_end_with_twilios_status_and_fetch_no_twiml(fake, client, app, fate):
    """Busy, no-answer and failed calls never reach the TwiML; the final status says which."""
    fake.call_fates[CALLEE] = fate
    call = place(client, app)
    assert fake.wait_for_calls()
    assert "/voice" not in app.paths()
    statuses = [form["CallStatus"] for path, form, _ in app.requests if path == "/status"]
    assert statuses[-1] == fate and "in-progress" not in statuses
    assert fake.get_call(call.sid)["status"] == fate


def test_a_hang_up_during_the_recording_still_posts_it_and_ignores_the_answer(fake, client, app):
    """Hanging up mid-recording posts the recording with Digits=hangup; nothing after is heard."""
    fake.script_call(CALLEE, ["1", Speak(5, "", HANG_UP)])
    call = place(client, app)
    assert fake.wait_for_calls()
    assert app.form("/recorded")["Digits"] == "hangup"
    assert "Thank you." not in fake.get_call(call.sid)["heard"]


def test_silence_in_a_record_skips_its_action(fake, client, app):
    """A recording of no sound posts no action; the verbs after the Record run."""
    fake.script_call(CALLEE, ["1", Speak(0, "", None)])
    call = place(client, app)
    assert fake.wait_for_calls()
    assert "/recorded" not in app.paths() and fake.get_call(call.sid)["heard"][-1] == "Nothing recorded."


def test_an_incoming_call_reaches_the_voice_url_as_a_caller_would(fake, app):
    """An incoming call posts CallStatus ringing and Direction inbound, then follows its script."""
    call = fake.incoming_call("+15557770000", FROM, app.url + "/voice", ["2"], status_callback=app.url + "/status")
    first = app.form("/voice")
    assert first["Direction"] == "inbound" and first["CallStatus"] == "ringing" and first["From"] == "+15557770000"
    assert call["heard"] == ["Press 1 to report.", "Goodbye."] and call["status"] == "completed"
    assert app.form("/status")["CallStatus"] == "completed"


def test_call_create_errors_speak_twilios_codes(fake, client, app):
    """A call without To, or with an unknown status event, is refused with Twilio's code."""
    with pytest.raises(TwilioRestException) as no_to:
        client.calls.create(to="", from_=FROM, url=app.url + "/voice")
    assert no_to.value.code == 21201
    with pytest.raises(TwilioRestException) as bad_event:
        client.calls.create(to=CALLEE, from_=FROM, url=app.url + "/voice", status_callback_event=["rung"])
    assert bad_event.value.code == 21626


def test_calls_are_listed_and_deleted_once_over(fake, client, app):
    """A finished call lists by number and deletes (204); a call still ringing answers 20009."""
    fake.play_calls = False
    waiting = client.calls.create(to=CALLEE, from_=FROM, twiml="<Response><Say>hi</Say></Response>")
    with pytest.raises(TwilioRestException) as early:
        client.calls(waiting.sid).delete()
    assert early.value.code == 20009
    fake.play_calls = True
    done = client.calls.create(to="+15550002222", from_=FROM, twiml="<Response><Say>hi</Say></Response>")
    assert fake.wait_for_calls()
    assert [c.sid for c in client.calls.list(to="+15550002222")] == [done.sid]
    assert client.calls(done.sid).delete() is True
    assert fake.get_call(done.sid) is None and fake.call_deletes[-1]["status"] == 204


def test_an_application_error_ends_the_call_with_11200(fake, client, app):
    """A TwiML URL that does not answer 200 ends the call; the record shows Twilio's 11200."""
    call = client.calls.create(to=CALLEE, from_=FROM, url=app.url + "/missing")
    assert fake.wait_for_calls()
    played = fake.get_call(call.sid)
    assert played["status"] == "completed" and played["errors"][0]["code"] == 11200


def bridged(client, app: App):
    return client.calls.create(to=CALLEE, from_=FROM, url=app.url + "/bridge", status_callback=app.url + "/status")


def test_a_dial_bridges_to_its_number_with_the_legs_callbacks_then_the_action(fake, client, app):
    """<Dial callerId><Number statusCallback>: the bridged leg is a call from our number (never the
    callee's), its answered and completed callbacks carry its duration, then the Dial's action gets
    DialCallStatus, DialCallSid and DialCallDuration, and its TwiML is followed."""
    fake.configure(dial_talk_seconds=95)
    call = bridged(client, app)
    assert fake.wait_for_calls()
    played = fake.get_call(call.sid)
    [leg] = fake.calls_to(TARGET)
    assert leg["from_"] == FROM and leg["direction"] == "outbound-dial" and leg["duration"] == 95
    assert played["heard"] == ["Connecting you.", "Thanks for calling."] and played["dialled"] == [leg["sid"]]
    legs = [form for path, form, _ in app.requests if path == "/leg"]
    assert [f["CallStatus"] for f in legs] == ["in-progress", "completed"]
    assert legs[-1]["CallDuration"] == "95" and legs[-1]["ParentCallSid"] == call.sid
    done = app.form("/dialled")
    assert (done["DialCallStatus"], done["DialCallDuration"], done["DialCallSid"]) == ("completed", "95", leg["sid"])
    assert all(signed for _, _, signed in app.requests)


@pytest.mark.parametrize("fate", ["busy", "no-answer", "failed"])
def test_a_dial_to_a_busy_number_tells_the_action_so(fake, client, app, fate):
    """The bridged number is busy (or rings out, or fails): one final leg callback, and the action's
    DialCallStatus says which, with no talk time."""
    fake.script_call(TARGET, fate=fate)
    bridged(client, app)
    assert fake.wait_for_calls()
    assert [form["CallStatus"] for path, form, _ in app.requests if path == "/leg"] == [fate]
    done = app.form("/dialled")
    assert (done["DialCallStatus"], done["DialCallDuration"]) == (fate, "0")


def test_a_callee_who_hangs_up_at_once_asks_for_nothing_more(fake, client, app):
    """Fate hangs-up: the callee answers, hears the first words, hangs up; no bridge, no action."""
    fake.script_call(CALLEE, fate="hangs-up")
    call = bridged(client, app)
    assert fake.wait_for_calls()
    assert fake.get_call(call.sid)["heard"] == ["Connecting you."] and fake.calls_to(TARGET) == []
    assert "/dialled" not in app.paths()


def test_a_paced_caller_spends_the_calls_time_before_each_request():
    """With caller_seconds_per_second set, the caller takes each second of what they hear (2 s a
    Say), press (1 s) and say into a Record (its length), scaled, before the next request: the
    requests of a played call are spaced as a real call's are (bench.voice_calls --caller-pace)."""
    waits: list[float] = []
    with FakeTwilio(play_calls=True, sleep=waits.append) as fake:
        app = App(fake.auth_token)
        try:
            fake.configure(caller_seconds_per_second=0.5)
            call = fake.incoming_call("+15557770000", FROM, app.url + "/voice", ["1", Speak(10, "vans", "#")])
        finally:
            app.server.shutdown()
            app.server.server_close()
    assert call["heard"] == ["Press 1 to report.", "Speak after the beep.", "Thank you."]
    # the menu (a Say, then a key), the prompt and 10 s spoken, then the thanks before hanging up
    assert waits == [1.5, 6.0, 1.0]
    assert fake.config()["caller_seconds_per_second"] == 0.5
