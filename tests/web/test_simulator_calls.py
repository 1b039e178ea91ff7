"""The /simulator phone's calls: alert calls ring on the page and follow the application's real
TwiML; a keypad answers them; every request goes to the application's own webhook views."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import pytest
from flask import request
from sqlalchemy import select
from twilio.twiml.voice_response import VoiceResponse

from rapidresponse.incidents.models import Incident
from rapidresponse.messaging.simulator import SimulatorProvider
from rapidresponse.services import Services
from rapidresponse.webhooks.routes import twilio_signed
from tests import conftest
from tests.conftest import PUBLIC_BASE_URL
from tests.web.test_simulator import sim_svc as simulator_services

NUMBER = "+12125550170"


class Webhooks:
    """Stand-ins for the application's voice webhooks, registered as signed Twilio webhooks are."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, str]]] = []

    def alert(self) -> str:
        response = VoiceResponse()
        gather = response.gather(action=f"{PUBLIC_BASE_URL}/twilio/test-keys", num_digits=1,
                                 action_on_empty_result=True)
        gather.say("Raid reported, K7. Press 1 if you are on your way, 2 if you cannot.")
        return str(response)

    def register(self, app: Any) -> None:
        def keys() -> str:
            self.seen.append(("keys", request.form.to_dict()))
            response = VoiceResponse()
            if request.form.get("Digits") == "1":
                response.say("Got it: 1 of 2 on the way to K7.")
            else:
                response.say("Nothing pressed. Goodbye.")
            response.hangup()
            return str(response)

        def status() -> tuple[str, int]:
            self.seen.append(("status", request.form.to_dict()))
            return "", 204

        app.add_url_rule("/twilio/test-keys", "test_keys", twilio_signed(keys), methods=["POST"])
        def broken() -> str:
            raise RuntimeError("a webhook that fails")

        app.add_url_rule("/twilio/test-status", "test_status", twilio_signed(status), methods=["POST"])
        app.add_url_rule("/twilio/test-broken", "test_broken", twilio_signed(broken), methods=["POST"])

    def statuses(self) -> list[str]:
        return [form["CallStatus"] for kind, form in self.seen if kind == "status"]


sim_svc = simulator_services  # the simulator's services fixture, under its own name


@pytest.fixture
def hooks() -> Webhooks:
    return Webhooks()


@pytest.fixture
def phone(sim_svc: Services, hooks: Webhooks, tmp_path: Path) -> Any:
    app = conftest.testing_app(sim_svc)
    hooks.register(app)
    return app.test_client()


def ring(svc: Services, hooks: Webhooks) -> str:
    provider = svc.provider
    assert isinstance(provider, SimulatorProvider)
    return provider.place_call(NUMBER, twiml=hooks.alert(), status_callback=f"{PUBLIC_BASE_URL}/twilio/test-status")


def page(client: Any) -> str:
    response = client.get("/simulator", query_string={"phone": NUMBER})
    assert response.status_code == 200
    return html.unescape(response.get_data(as_text=True))


def act(client: Any, sid: str, **form: str) -> str:
    response = client.post(f"/simulator/calls/{sid}", data=form, follow_redirects=True)
    assert response.status_code == 200, response.data
    return html.unescape(response.get_data(as_text=True))


def test_an_alert_call_rings_and_a_keypress_answers_it(phone, sim_svc, hooks):
    """An alert call rings on the page; answered, it speaks the alert; pressing 1 posts Digits=1 to
    the Gather's action, and the spoken answer is shown."""
    sid = ring(sim_svc, hooks)
    assert "Incoming call" in page(phone) and 'value="answer"' in page(phone)
    answered = act(phone, sid, action="answer")
    assert "Raid reported, K7. Press 1 if you are on your way" in answered and 'name="keys" value="1"' in answered
    done = act(phone, sid, action="press", keys="1")
    assert "Got it: 1 of 2 on the way to K7." in done and "Last call (completed)" in done
    keys = next(form for kind, form in hooks.seen if kind == "keys")
    assert keys["Digits"] == "1" and keys["CallSid"] == sid and keys["To"] == NUMBER
    assert hooks.statuses() == ["in-progress", "completed"]


def test_typed_keys_are_cut_as_twilio_cuts_them(phone, sim_svc, hooks):
    """Keys typed into the box are cut at numDigits: "12" is reported as "1"."""
    sid = ring(sim_svc, hooks)
    act(phone, sid, action="answer")
    act(phone, sid, action="press", keys="12")
    assert next(form for kind, form in hooks.seen if kind == "keys")["Digits"] == "1"


@pytest.mark.parametrize(("action", "status"), [("decline", "busy"), ("ignore", "no-answer")])
def test_a_call_not_taken_reports_busy_or_no_answer(phone, sim_svc, hooks, action, status):
    """Declining reports busy, letting it ring reports no-answer; no TwiML is followed."""
    sid = ring(sim_svc, hooks)
    shown = act(phone, sid, action=action)
    assert hooks.statuses() == [status] and "Raid reported" not in shown and f"Last call ({status})" in shown


def test_voicemail_presses_nothing(phone, sim_svc, hooks):
    """Sent to voicemail, the alert is played to a machine: the action hears no Digits, AnsweredBy says so."""
    sid = ring(sim_svc, hooks)
    shown = act(phone, sid, action="voicemail")
    keys = next(form for kind, form in hooks.seen if kind == "keys")
    assert "Digits" not in keys and keys["AnsweredBy"] == "machine_start"
    assert "Nothing pressed. Goodbye." in shown


def test_a_webhook_that_fails_is_heard_as_twilios_application_error(phone, sim_svc, hooks):
    """A webhook that answers 500 ends the call with Twilio's "application error", not a broken page."""
    provider = sim_svc.provider
    assert isinstance(provider, SimulatorProvider)
    document = hooks.alert().replace("/twilio/test-keys", "/twilio/test-broken")
    sid = provider.place_call(NUMBER, twiml=document, status_callback=None)
    act(phone, sid, action="answer")
    shown = act(phone, sid, action="press", keys="1")
    assert "An application error has occurred" in shown and "Last call (completed)" in shown


def test_calling_the_hotline_follows_its_real_flow(phone, sim_svc):
    """The simulated call hears the hotline's real greeting, presses 1, speaks, and hears its code read back."""
    response = phone.post("/simulator/calls", data={"phone": NUMBER}, follow_redirects=True)
    shown = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 200 and "Para español, oprima 9" in shown
    provider = sim_svc.provider
    assert isinstance(provider, SimulatorProvider)
    [(sid, _)] = provider.calls(NUMBER)
    phone.post(f"/simulator/calls/{sid}", data={"action": "press", "keys": "1"})
    response = phone.post(f"/simulator/calls/{sid}", data={"action": "record", "said": "two vans at 5th and Main",
                                                           "seconds": "12"}, follow_redirects=True)
    shown = html.unescape(response.get_data(as_text=True))
    with sim_svc.db.session() as session:
        code = session.scalars(select(Incident.code)).one()
    assert "Your reference code is " + ", ".join(code) in shown


def test_an_unknown_call_is_a_404(phone):
    """Acting on a call the simulator never had answers 404."""
    assert phone.post("/simulator/calls/CA" + "0" * 32, data={"action": "answer"}).status_code == 404

