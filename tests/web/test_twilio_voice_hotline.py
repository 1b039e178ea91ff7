"""The hotline (POST /twilio/voice): stored first, greeted in two languages, a menu of trees, a
recording that opens a report read back letter by letter, and no caller ever dropped."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from rapidresponse.hotline.models import CallOutcome, InboundCall, Recording
from rapidresponse.incidents.models import Incident, ThreadEvent
from rapidresponse.incidents.service import plan_of
from rapidresponse.jobs import queues
from rapidresponse.jobs.dispatch import START_INCIDENT
from rapidresponse.messaging.models import OutboundMessage
from rapidresponse.services import Services
from tests.conftest import PUBLIC_BASE_URL, add_member, signed_post
from tests.web.hotline_phone import HotlineCall

CALLER = "+12125550150"
VERIFIER = "+12125550160"


def calls(svc: Services) -> list[InboundCall]:
    with svc.db.session() as session:
        found = list(session.scalars(select(InboundCall).order_by(InboundCall.id)))
        session.expunge_all()
        return found


def incidents(svc: Services) -> list[Incident]:
    with svc.db.session() as session:
        found = list(session.scalars(select(Incident).order_by(Incident.id)))
        session.expunge_all()
        return found


def thread(svc: Services, incident_id: int) -> list[tuple[str, str | None]]:
    with svc.db.session() as session:
        return [(e.kind, svc.cipher.decrypt(e.body_token) if e.body_token else None) for e in session.scalars(
            select(ThreadEvent).where(ThreadEvent.incident_id == incident_id).order_by(ThreadEvent.id))]


def spelled(code: str) -> str:
    return ", ".join(code)


def test_a_call_is_stored_before_it_is_answered(client, svc):
    """The first request stores the call (number encrypted, found by its blind index) before the greeting."""
    call = HotlineCall(client, CALLER)
    greeting = call.ring()
    [stored] = calls(svc)
    assert stored.call_sid == call.sid and stored.outcome is None
    assert stored.from_token is not None and CALLER.encode() not in stored.from_token
    assert svc.cipher.decrypt(stored.from_token) == CALLER
    assert stored.from_index == svc.cipher.blind_index(CALLER)
    assert greeting.gather is not None


def test_the_greeting_is_english_and_offers_spanish_by_9(client, svc):
    """English first, each tree's key read from the trees file, then "Para español, oprima 9" in a Spanish voice."""
    greeting = HotlineCall(client, CALLER).ring()
    assert "Rapid Response hotline." in greeting.text
    assert "For ICE activity, press 1." in greeting.text
    assert "For Eviction, press 2." in greeting.text
    assert "For Police stop, press 3." in greeting.text
    assert "To hear this again, press star." in greeting.text
    english = [s for s in greeting.said if s.language == "en-US"]
    assert english and all(s.voice == "Polly.Joanna" for s in english)
    [spanish] = [s for s in greeting.said if s.language == "es-MX"]
    assert spanish.text == "Para español, oprima 9." and spanish.voice == "Polly.Mia"
    gather = greeting.gather
    assert gather is not None and gather.get("numDigits") == "1" and gather.get("actionOnEmptyResult") == "true"
    assert greeting.query() == {"step": "menu", "lang": "en", "miss": "0", "play": "1"}
    assert greeting.action.startswith(PUBLIC_BASE_URL + "/twilio/voice?")


def test_a_member_hears_their_own_language_first(client, svc):
    """A Spanish-speaking member is greeted in Spanish, with English offered by 9."""
    add_member(svc, CALLER, language="es")
    greeting = HotlineCall(client, CALLER).ring()
    assert greeting.said[0].text == "Línea de Respuesta Rápida." and greeting.said[0].language == "es-MX"
    assert "Para Actividad de ICE, oprima 1." in greeting.text
    assert greeting.said[-1].text == "For English, press 9." and greeting.said[-1].language == "en-US"
    assert greeting.query()["lang"] == "es"


def test_a_key_records_into_its_tree(client, svc):
    """Key 1 asks where and what, then records: at most 120 s, ended by #, after a beep."""
    call = HotlineCall(client, CALLER)
    call.ring()
    answer = call.press("1")
    assert "After the beep, say where you are and what is happening." in answer.text
    record = answer.record
    assert record is not None
    assert record.get("maxLength") == "120" and record.get("finishOnKey") == "#" and record.get("playBeep") == "true"
    assert record.get("transcribe") is None  # VOICE_TRANSCRIBE is off by default
    assert answer.query() == {"step": "recorded", "lang": "en", "tree": "ice", "try": "1"}


def test_a_recording_opens_a_report_and_reads_its_code_back_twice(client, svc):
    """The recording opens an incident on the chosen tree (verifiers alerted first) through the
    same function a texted report uses; the code is read letter by letter, twice; then goodbye."""
    add_member(svc, VERIFIER, roles="responder", trees={"eviction": 1})
    call = HotlineCall(client, CALLER)
    call.ring()
    call.press("2")
    answer = call.speak(34)
    [incident] = incidents(svc)
    assert plan_of(svc.cipher, incident).name == "eviction"
    assert svc.cipher.decrypt(incident.text_token) == "voice report, 34 s"
    assert ("report", "voice report, 34 s") in thread(svc, incident.id)
    assert answer.text.count(spelled(incident.code)) == 2
    assert "we are alerting volunteers now" in answer.text
    assert answer.hangs_up
    [stored] = calls(svc)
    assert stored.outcome == CallOutcome.REPORTED.value and stored.incident_id == incident.id
    with svc.db.session() as session:
        recording = session.scalars(select(Recording)).one()
        assert recording.incident_id == incident.id and recording.duration_seconds == 34
        assert recording.sid_token is not None and call.recording_sid.encode() not in recording.sid_token
        assert svc.cipher.decrypt(recording.sid_token) == call.recording_sid


def test_nobody_to_alert_is_said_so(client, svc):
    """With nobody in the tree the caller hears that the coordinators were told, not that volunteers are coming."""
    call = HotlineCall(client, CALLER)
    call.ring()
    call.press("3")
    answer = call.speak(12)
    assert "our coordinators have been told" in answer.text


def test_9_then_spanish_to_the_end(client, svc):
    """After 9 every step is in Spanish, in a Spanish voice, down to the code read back."""
    call = HotlineCall(client, CALLER)
    call.ring()
    menu = call.press("9")
    assert menu.said[0].text == "Línea de Respuesta Rápida."
    assert menu.query()["lang"] == "es"
    prompt = call.press("1")
    assert "Después del tono" in prompt.text
    assert all(s.language == "es-MX" and s.voice == "Polly.Mia" for s in prompt.said)
    done = call.speak(20)
    [incident] = incidents(svc)
    assert "Su código de referencia es " + spelled(incident.code) in done.text
    assert all(s.language == "es-MX" for s in done.said)
    assert done.hangs_up


def test_star_repeats_the_menu(client, svc):
    """* plays the menu again without counting as a mistake."""
    call = HotlineCall(client, CALLER)
    call.ring()
    again = call.press("*")
    assert "Sorry" not in again.text and "For ICE activity, press 1." in again.text
    assert again.query()["miss"] == "0"


@pytest.mark.parametrize("keys", [["", ""], ["7", "5"], ["", "#"]], ids=["silence", "wrong-keys", "mixed"])
def test_no_usable_key_repeats_once_then_records_anyway(client, svc, keys):
    """Silence or a wrong key repeats the menu once with an apology; the second time the report is
    recorded anyway into the hotline's default tree: a caller is never dropped."""
    call = HotlineCall(client, CALLER)
    call.ring()
    again = call.press(keys[0])
    assert again.text.startswith("Sorry, we did not get that.") and again.gather is not None
    anyway = call.press(keys[1])
    assert anyway.text.startswith("We will record your report now.")
    assert anyway.record is not None and anyway.query()["tree"] == svc.trees.hotline_tree.name
    call.speak(15)
    [incident] = incidents(svc)
    assert plan_of(svc.cipher, incident).name == "ice"


def test_a_duplicated_recording_callback_acts_once(client, svc):
    """Twilio retrying the recording callback opens no second incident and reads the same code."""
    call = HotlineCall(client, CALLER)
    call.ring()
    call.press("1")
    first = call.speak(30)
    again = call.repeat_recording_callback(30)
    [incident] = incidents(svc)
    assert spelled(incident.code) in again.text and first.text == again.text
    with svc.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Recording)) == 1
        assert session.scalar(select(func.count()).select_from(ThreadEvent).where(ThreadEvent.kind == "report")) == 1


def test_a_hang_up_during_the_recording_still_reports(client, svc):
    """A caller who hangs up after saying something (over 2 s) still opens the report."""
    call = HotlineCall(client, CALLER)
    call.ring()
    call.press("1")
    call.speak(9, hang_up=True)
    call.end()
    [incident] = incidents(svc)
    assert svc.cipher.decrypt(incident.text_token) == "voice report, 9 s"
    assert calls(svc)[0].outcome == CallOutcome.REPORTED.value


def test_a_hang_up_with_nothing_said_is_a_missed_call(client, svc):
    """A hang-up within 2 s of the beep opens nothing; the call is a missed call (its recording is kept to delete)."""
    call = HotlineCall(client, CALLER)
    call.ring()
    call.press("1")
    call.speak(1, hang_up=True)
    assert incidents(svc) == []
    [stored] = calls(svc)
    assert stored.outcome == CallOutcome.MISSED.value
    with svc.db.session() as session:
        assert session.scalars(select(Recording)).one().incident_id is None


def test_a_hang_up_before_recording_is_a_missed_call(client, svc):
    """A caller who hangs up at the menu leaves a missed call (from the number's status callback)."""
    call = HotlineCall(client, CALLER)
    call.ring()
    assert call.end().status_code == 204
    [stored] = calls(svc)
    assert stored.outcome == CallOutcome.MISSED.value and stored.ended_at is not None
    assert incidents(svc) == []


def test_silence_after_the_beep_asks_once_more_then_reports(client, svc):
    """Nothing recorded while the caller stays on the line: once more, then a report all the same."""
    call = HotlineCall(client, CALLER)
    call.ring()
    call.press("1")
    again = call.speak(0)
    assert "We did not hear anything." in again.text and again.record is not None
    assert again.query()["try"] == "2"
    done = call.speak(1)
    [incident] = incidents(svc)
    assert spelled(incident.code) in done.text


@pytest.mark.parametrize("number", ["+266696687", "+7378742833", "+2562533", "+8656696", "anonymous", "",
                                    "not-a-number", "+1212"])
def test_withheld_or_unparsable_callers_get_the_whole_flow(client, svc, number):
    """A withheld or unusable caller ID is never taken for a member and keeps no number, but the
    caller is heard to the end and the report opens."""
    add_member(svc, "+266696687", language="es")  # even if someone managed to import it
    call = HotlineCall(client, number)
    greeting = call.ring()
    assert greeting.said[0].text == "Rapid Response hotline."
    call.press("1")
    done = call.speak(25)
    [incident] = incidents(svc)
    assert spelled(incident.code) in done.text
    [stored] = calls(svc)
    assert stored.withheld and stored.from_token is None and stored.from_index is None
    assert incident.reporter_member_id is None


def test_a_forged_signature_is_refused_and_nothing_stored(client, svc):
    """A request not signed with our auth token gets 403 and leaves no trace."""
    call = HotlineCall(client, CALLER)
    response = signed_post(client, "/twilio/voice", call.params(), token="not-our-token")
    assert response.status_code == 403
    response = client.post("/twilio/voice", data=call.params())
    assert response.status_code == 403
    assert calls(svc) == []


def test_a_signature_for_another_step_is_refused(client, svc):
    """The signature covers the query: a step URL altered after signing is refused."""
    call = HotlineCall(client, CALLER)
    params = call.params(Digits="1")
    from tests.conftest import sign

    signature = sign(PUBLIC_BASE_URL + "/twilio/voice?step=menu&lang=en", params)
    response = client.post("/twilio/voice?step=menu&lang=es", data=params, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 403


def test_a_callsid_we_never_saw_is_stored_and_answered(client, svc):
    """A step for a call whose first request never reached us stores the call and goes on."""
    call = HotlineCall(client, CALLER)
    answer = call.post(PUBLIC_BASE_URL + "/twilio/voice?step=menu&lang=en&miss=0&play=1", Digits="1")
    assert answer.status_code == 200 and b"<Record" in answer.data
    [stored] = calls(svc)
    assert stored.call_sid == call.sid


def test_a_status_callback_for_an_unknown_call_does_nothing(client, svc):
    """The end of a call we never answered is acknowledged and ignored."""
    assert HotlineCall(client, CALLER).end().status_code == 204
    assert calls(svc) == []


def test_a_request_without_callsid_is_a_400(client, svc):
    """Twilio always sends CallSid: without one the request is malformed (400, never a 500)."""
    response = signed_post(client, "/twilio/voice", {"From": CALLER, "To": "+15005550006"})
    assert response.status_code == 400


@pytest.mark.parametrize("query", ["step=nonsense", "step=menu&lang=xx&miss=abc&play=-1", "step=recorded&try=zz"])
def test_odd_step_urls_still_answer_the_caller(client, svc, query):
    """A step or counter we cannot read answers with a menu or a prompt, never an error."""
    call = HotlineCall(client, CALLER)
    response = call.post(PUBLIC_BASE_URL + "/twilio/voice?" + query)
    assert response.status_code == 200
    assert b"<Gather" in response.data or b"<Record" in response.data


def test_a_retried_greeting_stores_the_call_once(client, svc):
    """Twilio retrying the first request (same CallSid) gets the same greeting; one row."""
    call = HotlineCall(client, CALLER)
    first = call.ring()
    again = call.ring()
    assert first.xml == again.xml
    assert len(calls(svc)) == 1


def test_the_report_alerts_the_verifiers_first(client, svc):
    """The report's first evaluation alerts the tree's verifier layer, as for a texted report."""
    from rapidresponse.db import utcnow
    from rapidresponse.escalation import service as escalation

    add_member(svc, VERIFIER, roles="responder", trees={"ice": 1})
    add_member(svc, "+12125550161", roles="responder", trees={"ice": 2})
    call = HotlineCall(client, CALLER)
    call.ring()
    call.press("1")
    call.speak(40)
    [incident] = incidents(svc)
    with svc.db.session() as session:
        escalation.evaluate(svc, session, incident.id, utcnow())
    with svc.db.session() as session:
        alerted = list(session.scalars(select(OutboundMessage.layer).where(OutboundMessage.incident_id == incident.id)))
    assert alerted == [1]


def test_the_code_is_read_back_before_the_first_alerts_are_queued(app, svc):
    """The caller hears the code without waiting on the queue: the report (stored, committed) is
    handed to Redis once the answer is sent, when the server closes the response, and then it is."""
    add_member(svc, VERIFIER, roles="responder", trees={"ice": 1})
    urgent = queues.queue(svc, queues.URGENT)
    call = HotlineCall(FlaskClient(app, app.response_class), CALLER)  # responses left open, as while sending
    call.ring()
    call.press("1")
    response = call.post(call.last.action, RecordingSid="RE" + "1" * 32, RecordingDuration="20", Digits="#")
    [incident] = incidents(svc)
    assert spelled(incident.code) in response.get_data(as_text=True)
    assert urgent.count == 0
    response.close()  # the answer is sent
    [job] = urgent.jobs
    assert job.func_name == START_INCIDENT and job.args == [incident.id]
