"""A voice report is opened exactly once and nothing of it is lost: the recording is stored (and
committed) before the report is opened, a failure while opening leaves the call unclaimed so the
same callback posted again, or the sweep, opens it, and a taken code is passed over by calls and
texts alike."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from unittest import mock

import pytest
from sqlalchemy import func, select, update

from rapidresponse.db import utcnow
from rapidresponse.hotline import service as hotline
from rapidresponse.hotline.models import CallOutcome, InboundCall, Recording
from rapidresponse.incidents import responses
from rapidresponse.incidents import service as incidents_service
from rapidresponse.incidents.models import ThreadEvent
from rapidresponse.incidents.service import plan_of
from rapidresponse.services import Services
from tests.conftest import Phone, add_member
from tests.web.hotline_phone import HotlineCall
from tests.web.test_twilio_voice_hotline import incidents, spelled

CALLER = "+12125550150"
TEXTER = "+12125550151"


def count(svc: Services, model: type) -> int:
    with svc.db.session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def the_call(svc: Services) -> InboundCall:
    with svc.db.session() as session:
        call = session.scalars(select(InboundCall)).one()
        session.expunge(call)
        return call


@pytest.fixture
def report_fails_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The next report cannot be opened (the database went away, a bug); the one after can."""
    real_report = responses.report
    failures = iter([RuntimeError("the database went away")])

    def report_failing_once(*args, **kwargs):  # type: ignore[no-untyped-def]
        for failure in failures:
            raise failure
        return real_report(*args, **kwargs)

    monkeypatch.setattr(responses, "report", report_failing_once)


def failed_recording(client, key: str = "1") -> HotlineCall:  # type: ignore[no-untyped-def]
    """A call whose recording callback failed with a 500 (Twilio then apologises and hangs up)."""
    call = HotlineCall(client, CALLER)
    call.ring()
    prompt = call.press(key)
    call.recording_sid, call.record_action = "RE" + "5" * 32, prompt.action
    failed = call.post(prompt.action, RecordingSid=call.recording_sid, RecordingDuration="25", Digits="#")
    assert failed.status_code == 500
    return call


def test_a_failure_while_opening_keeps_the_recording_and_the_callback_again_opens_it_once(client, svc,
                                                                                           report_fails_once):
    """Opening the report fails once: the recording is kept, the call stays unclaimed (not a
    report with no incident), and the same callback posted again opens one incident whose code is
    the one read back; a third post changes nothing."""
    call = failed_recording(client)
    assert incidents(svc) == []
    assert count(svc, Recording) == 1
    stored = the_call(svc)
    assert stored.outcome is None and stored.incident_id is None

    again = call.repeat_recording_callback(25)
    [incident] = incidents(svc)
    assert again.text.count(spelled(incident.code)) == 2 and again.hangs_up
    stored = the_call(svc)
    assert stored.outcome == CallOutcome.REPORTED.value and stored.incident_id == incident.id
    with svc.db.session() as session:
        recording = session.scalars(select(Recording)).one()
        assert recording.incident_id == incident.id

    third = call.repeat_recording_callback(25)
    assert third.text == again.text
    assert len(incidents(svc)) == 1 and count(svc, Recording) == 1
    with svc.db.session() as session:
        assert session.scalar(select(func.count()).select_from(ThreadEvent).where(ThreadEvent.kind == "report")) == 1


def test_a_member_calling_is_the_reporter(client, svc):
    """A member's voice report names them as its reporter, as their text would."""
    member_id = add_member(svc, CALLER)
    call = HotlineCall(client, CALLER)
    call.ring()
    call.press("1")
    call.speak(12)
    [incident] = incidents(svc)
    assert incident.reporter_member_id == member_id


@pytest.fixture
def first_code_taken(svc: Services, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str]]:
    """An open incident holds K7; the next report draws K7 first, then M8 (as when another report
    takes K7 between this one's read of the taken codes and its insert)."""
    with svc.db.session() as session:
        held = incidents_service.open_incident(session, svc.cipher, svc.trees.get("ice"), text="earlier",
                                               reporter_phone="+12125550199", reporter=None, inbound_id=None,
                                               now=utcnow())
        session.flush()
        held.code = held.open_code = "K7"
    monkeypatch.setattr(incidents_service, "candidate_codes", lambda rng, taken: iter(["K7", "M8"]))
    yield "K7", "M8"


def test_a_call_passes_over_a_taken_code(client, svc, first_code_taken):
    """The code an open incident holds is not given twice: the caller hears the next free one."""
    taken, free = first_code_taken
    call = HotlineCall(client, CALLER)
    call.ring()
    call.press("1")
    answer = call.speak(20)
    assert spelled(free) in answer.text and spelled(taken) not in answer.text
    assert sorted(i.code for i in incidents(svc)) == [taken, free]


def test_a_text_passes_over_a_taken_code(client, svc, first_code_taken):
    """The same function opens a texted report: the texter gets the next free code."""
    taken, free = first_code_taken
    reply = Phone(client, TEXTER).reply_to("ICE two vans at 5th and Main")
    assert f"ref {free}" in reply and taken not in reply
    assert sorted(i.code for i in incidents(svc)) == [taken, free]


def test_the_sweep_opens_a_report_whose_request_failed(client, svc, report_fails_once):
    """The request failed after storing the recording and the call ended (a missed call for now):
    a minute on, the sweep opens the report, into the hotline's default tree (the key pressed
    lived only in that request), once; the call leaves the missed list."""
    call = failed_recording(client, key="2")
    call.end()
    with svc.db.session() as session:
        assert hotline.missed_count(session) == 1
    now = utcnow()
    assert hotline.report_stranded(svc, now) == []  # within the minute the request may still be at it
    [after] = hotline.report_stranded(svc, now + timedelta(minutes=2))
    [incident] = incidents(svc)
    assert after.start_incident == incident.id
    assert plan_of(svc.cipher, incident).name == svc.trees.hotline_tree.name
    assert svc.cipher.decrypt(incident.text_token) == "voice report, 25 s"
    stored = the_call(svc)
    assert stored.outcome == CallOutcome.REPORTED.value and stored.incident_id == incident.id
    with svc.db.session() as session:
        assert session.scalars(select(Recording)).one().incident_id == incident.id
        assert hotline.missed_count(session) == 0
    assert hotline.report_stranded(svc, now + timedelta(minutes=3)) == []
    again = call.repeat_recording_callback(25)  # and a late retry of the callback hears the same code
    assert spelled(incident.code) in again.text and len(incidents(svc)) == 1


def test_a_recording_older_than_any_call_is_left_a_missed_call(client, svc, report_fails_once):
    """Past the time any call can last, a report would send people to a scene long over: it stays a
    missed call for the coordinators to call back."""
    failed_recording(client).end()
    assert hotline.report_stranded(svc, utcnow() + hotline.CALL_GIVEN_UP + timedelta(minutes=1)) == []
    assert incidents(svc) == []


def test_the_workers_sweep_opens_and_starts_it(client, svc, report_fails_once):
    """The worker's sweep runs it and queues the new incident's first layer."""
    from rapidresponse.jobs import queues, tasks

    failed_recording(client)
    with svc.db.session() as session:
        session.execute(update(Recording).values(created_at=utcnow() - timedelta(minutes=2)))
    with mock.patch.object(tasks, "process_services", return_value=svc):
        counts = tasks.sweep()
    [incident] = incidents(svc)
    assert counts["stranded_reports"] == 1
    jobs = queues.queue(svc, queues.URGENT).jobs
    assert any(job.func_name.endswith("start_incident") and job.args == [incident.id] for job in jobs)
