"""The /simulator phone: with no Twilio credentials, a newcomer texts the system from the browser."""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from rapidresponse import create_app
from rapidresponse.messaging.models import SimulatedMessage
from rapidresponse.services import Services
from rapidresponse.settings import Settings
from tests import conftest
from tests.conftest import member, signed_post

NUMBER = "+12125550170"


@pytest.fixture
def sim_svc(tmp_path: Path, database_url: str) -> Iterator[Services]:
    """Services with no TWILIO_* settings, so the built-in simulator is the provider."""
    env = {k: v for k, v in conftest.test_env(tmp_path, database_url).items() if not k.startswith("TWILIO_")}
    with conftest.fresh_services(Settings.from_env(env)) as services:
        assert services.settings.provider_name == "simulator"
        yield services


@pytest.fixture
def sim_app(sim_svc: Services) -> Any:
    return conftest.testing_app(sim_svc)


@pytest.fixture
def sim(sim_app: Any) -> Any:
    return sim_app.test_client()


def send(client: Any, body: str, phone: str = NUMBER) -> str:
    """Text from the simulator's form and return the page it lands on, as the user reads it."""
    response = client.post("/simulator", data={"phone": phone, "body": body}, follow_redirects=True)
    assert response.status_code == 200, response.data
    return html.unescape(response.get_data(as_text=True))


def conversation(client: Any, phone: str = NUMBER) -> list[dict[str, str]]:
    response = client.get("/simulator/messages", query_string={"phone": phone})
    assert response.status_code == 200 and response.is_json
    return response.get_json()


def test_simulator_page_renders(sim):
    """GET /simulator shows the phone page with an empty conversation and a send form."""
    response = sim.get("/simulator")
    page = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 200
    assert "Phone simulator" in page and "No messages yet." in page and 'name="body"' in page


def test_join_yes_help_shows_the_whole_conversation(sim, sim_svc):
    """JOIN asks to confirm, YES welcomes, HELP explains; the page shows each text and its reply."""
    page = send(sim, "JOIN")
    assert "reply YES to confirm" in page
    assert member(sim_svc, NUMBER).status == "pending"

    page = send(sim, "YES")
    assert "You're in" in page
    assert member(sim_svc, NUMBER).status == "active"

    page = send(sim, "HELP")
    assert "To report, text what and where" in page

    messages = conversation(sim)
    assert [(m["direction"], m["body"].split(" ")[0]) for m in messages if m["direction"] == "in"] == [
        ("in", "JOIN"), ("in", "YES"), ("in", "HELP"),
    ]
    replies = [m["body"] for m in messages if m["direction"] == "out"]
    assert any("reply YES to confirm" in r for r in replies)
    assert any("You're in" in r for r in replies)
    assert any("To report" in r for r in replies)
    assert messages[0] == {**messages[0], "direction": "in", "body": "JOIN", "kind": "sms"}
    assert all(m["at"] for m in messages)


def test_each_number_sees_only_its_own_texts(sim):
    """Switching numbers shows a separate phone: one number's texts are not on another's screen."""
    send(sim, "JOIN")
    other = "+12125550171"
    assert conversation(sim, other) == []
    page = html.unescape(sim.get("/simulator", query_string={"phone": other}).get_data(as_text=True))
    assert "No messages yet." in page and other in page


@pytest.mark.parametrize("bad", ["not a phone", "123", "+1 555"])
def test_bad_phone_shows_an_error_not_a_500(sim, sim_svc, bad):
    """A number that cannot be used is explained on the page; nothing is sent or stored for it."""
    response = sim.post("/simulator", data={"phone": bad, "body": "JOIN"}, follow_redirects=True)
    page = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 200
    assert "That number can't be used" in page
    shown = sim.get("/simulator", query_string={"phone": bad})
    assert shown.status_code == 200
    assert "That number can't be used" in html.unescape(shown.get_data(as_text=True))
    with sim_svc.db.session() as session:
        assert session.scalar(select(func.count()).select_from(SimulatedMessage)) == 0


def test_simulator_form_needs_a_csrf_token(sim_svc):
    """With CSRF protection on (as in production), a cross-site POST to the simulator is refused."""
    app = create_app(services=sim_svc)
    app.config.update(TESTING=True)
    response = app.test_client().post("/simulator", data={"phone": NUMBER, "body": "JOIN"})
    assert response.status_code == 400
    assert member(sim_svc, NUMBER) is None


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-Twilio-Signature": ""}, {"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}],
    ids=["unsigned", "empty-signature", "made-up-signature"],
)
def test_twilio_webhook_refuses_everything_in_simulator_mode(sim, sim_svc, headers):
    """Without a Twilio auth token nothing can be verified, so /twilio/sms answers 403 to every request."""
    params = {"MessageSid": "SM" + "1" * 32, "From": NUMBER, "Body": "JOIN"}
    assert sim.post("/twilio/sms", data=params, headers=headers).status_code == 403
    assert member(sim_svc, NUMBER) is None


def test_twilio_webhook_refuses_a_request_signed_with_any_token(sim, sim_svc):
    """Even a correctly computed signature is refused: there is no configured token to trust."""
    params = {"MessageSid": "SM" + "2" * 32, "From": NUMBER, "Body": "JOIN"}
    assert signed_post(sim, "/twilio/sms", params).status_code == 403
    status = {"MessageSid": "SM1", "MessageStatus": "delivered"}
    assert signed_post(sim, "/twilio/status", status).status_code == 403
    assert member(sim_svc, NUMBER) is None


@pytest.mark.parametrize(("method", "path"), [("GET", "/simulator"), ("POST", "/simulator"),
                                              ("GET", "/simulator/messages")])
def test_simulator_is_absent_when_twilio_is_configured(client, method, path):
    """With Twilio credentials set there is no simulator page: /simulator is 404."""
    form = {"phone": NUMBER, "body": "JOIN"} if method == "POST" else None
    response = client.open(path, method=method, data=form)
    assert response.status_code == 404


@pytest.mark.parametrize("path", ["/simulator", "/simulator/messages"])
def test_simulator_refuses_requests_from_the_network(sim, path):
    """The simulator has no sign-in, so a request from another machine is refused with a reason."""
    response = sim.get(path, environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert response.status_code == 403
    assert "SIMULATOR_ALLOW_REMOTE" in response.get_data(as_text=True)
    refused = sim.post("/simulator", data={"phone": NUMBER, "body": "JOIN"}, environ_base={"REMOTE_ADDR": "10.0.0.7"})
    assert refused.status_code == 403
    assert conversation(sim) == []  # nothing was texted


def test_simulator_answers_the_network_when_allowed(tmp_path, database_url):
    """SIMULATOR_ALLOW_REMOTE=true opens it to other machines (a demo on a trusted network)."""
    env = {k: v for k, v in conftest.test_env(tmp_path, database_url).items() if not k.startswith("TWILIO_")}
    env["SIMULATOR_ALLOW_REMOTE"] = "true"
    with conftest.fresh_services(Settings.from_env(env)) as services:
        client = conftest.testing_app(services).test_client()
        assert client.get("/simulator", environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code == 200


def test_simulator_answers_loopback_over_ipv6(sim):
    """::1 is this machine too."""
    assert sim.get("/simulator", environ_base={"REMOTE_ADDR": "::1"}).status_code == 200


def test_a_bad_switch_number_shows_its_error_next_to_the_field(sim):
    """What was typed stays in the field with the error right below it, as a phone shows it."""
    page = html.unescape(sim.get("/simulator", query_string={"phone": "555"}).get_data(as_text=True))
    field = page[page.index('name="phone" value="555"'):]
    assert 'aria-describedby="phone-error"' in field.split(">", 1)[0]
    after_form = page[page.index("Switch number"):]
    assert after_form.index('id="phone-error"') < after_form.index("</body>")
    assert "That number can't be used" in after_form.split("</p>", 1)[0]
    assert 'id="thread"' not in page  # no one's texts under a number that is not one


@pytest.mark.parametrize("body", ["", "   ", "\n"])
def test_an_empty_text_is_not_sent(sim, sim_svc, body):
    """Send with nothing typed asks for a message, next to the box, and sends and stores nothing."""
    response = sim.post("/simulator", data={"phone": NUMBER, "body": body})
    page = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 422
    assert 'id="body-error"' in page and "an empty text is not sent" in page
    assert conversation(sim) == []
    with sim_svc.db.session() as session:
        assert session.scalar(select(func.count()).select_from(SimulatedMessage)) == 0
