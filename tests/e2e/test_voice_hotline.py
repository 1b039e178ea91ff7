"""The hotline end to end, with real workers and the fake Twilio putting callers through as
Twilio would: a report by phone, a hang-up at the menu, and a verifier on voice who presses 1."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from bench.fake_twilio.voice import Speak
from rapidresponse.incidents.models import Incident
from tests.e2e.harness import Stack, wait_until
from tests.e2e.test_alert_escalation import incident
from tests.e2e.test_voice import acknowledgements, on_voice

CALLER = "+12125550350"
VERIFIER = "+12125550351"


def test_a_hotline_call_opens_a_report_and_alerts_the_verifier(tmp_path: Path):
    """A caller presses 1 for a raid and speaks for 20 s: an incident opens in the ICE tree, its
    code is read back on the line, and the ICE tree's verifier is alerted."""
    stack = Stack(tmp_path, play_calls=True)
    try:
        stack.member(VERIFIER, roles="responder", trees={"ice": 1})
        stack.start_worker()
        call = stack.call_hotline(CALLER, ["1", Speak(20, "", "#")])
        assert call["errors"] == [] and call["status"] == "completed" and len(call["recordings"]) == 1
        opened = incident(stack)
        spoken_code = ", ".join(opened.code)  # read letter by letter: "K, 7"
        assert any(spoken_code in line for line in call["heard"]), call["heard"]
        wait_until(lambda: stack.received(VERIFIER))
        assert opened.code in stack.received(VERIFIER)[0]
    finally:
        stack.close()


def test_hanging_up_at_the_menu_leaves_no_incident(tmp_path: Path):
    """A caller who hangs up before recording anything opens no incident (a missed call instead)."""
    stack = Stack(tmp_path, play_calls=True)
    try:
        stack.start_worker()
        call = stack.call_hotline(CALLER, ["hangup"])
        assert call["status"] == "completed" and call["recordings"] == []
        with stack.svc.db.session() as session:
            assert session.scalars(select(Incident)).all() == []
    finally:
        stack.close()


def test_a_voice_report_alerts_the_verifier_by_call_who_presses_1(tmp_path: Path):
    """A report by phone; the verifier, on voice, is called, hears the code and presses 1: the
    acknowledgement is counted as an SMS YES would be, and the call hears it confirmed."""
    stack = Stack(tmp_path, play_calls=True)
    try:
        on_voice(stack, VERIFIER, roles="responder", trees={"ice": 1})
        stack.fake.script_call(VERIFIER, ["1"])
        stack.start_worker()
        stack.call_hotline(CALLER, ["1", Speak(20, "", "#")])
        code = incident(stack).code
        wait_until(lambda: acknowledgements(stack) == ["yes"])
        stack.fake.wait_for_calls()
        [alert] = stack.fake.calls_to(VERIFIER)
        assert alert["pressed"] == ["1"] and alert["status"] == "completed"
        assert ", ".join(code) in alert["heard"][0] and len(alert["heard"]) >= 2  # the alert, then the answer
        assert stack.received(VERIFIER) == []  # called, not texted
    finally:
        stack.close()


