"""The live board's JSON and the incident page's message to those on the way, through the test client:
sign-in required, CSRF, bad input answered with a message and nothing sent, once per form."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from rapidresponse.console.threads import describe
from rapidresponse.incidents.models import ThreadEvent
from rapidresponse.messaging.models import OutboundMessage
from tests.conftest import Phone
from tests.web.test_console_auth import add_coordinator
from tests.web.test_console_incidents import (  # noqa: F401 - fixtures
    VERIFIERS,
    alert_first_layer,
    coordinator_id,
    members,
    report,
)

KEY = "0123456789abcdef0123456789abcdef"


def team_texts(svc) -> int:
    with svc.db.session() as session:
        return session.scalar(select(func.count()).select_from(OutboundMessage)
                              .where(OutboundMessage.dedupe_key.like("team:%")))


def team_lines(svc) -> int:
    with svc.db.session() as session:
        return session.scalar(select(func.count()).select_from(ThreadEvent).where(ThreadEvent.kind == "team_message"))


def test_board_json_and_message_need_sign_in(client, svc):
    """Signed out, the board's JSON and the message form send the visitor to sign in; nothing is sent."""
    assert client.get("/incidents/board.json").headers["Location"].startswith("/login")
    response = client.post("/incidents/1/message", data={"body": "hi", "key": KEY})
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert team_texts(svc) == 0


def test_board_json_announces_reports_newer_than_seen(client, svc, coordinator_id, members):  # noqa: F811
    """The JSON carries the board as HTML and a title; a report newer than `seen` is announced in
    both, one the page already showed is not, and a `seen` that is not a number is ignored."""
    first = client.get("/incidents/board.json").get_json()
    assert first["title"].startswith("Incidents") and first["new"] == 0 and "No open incidents." in first["html"]
    incident = report(client, svc)
    alert_first_layer(svc, incident.id)
    fresh = client.get(f"/incidents/board.json?seen={first['newest']}").get_json()
    assert fresh["new"] == 1 and fresh["title"].startswith("(1 new) Incidents")
    assert f"New report: {incident.code}, ice." in fresh["banner"]
    assert '<b>2</b> alerted' in fresh["html"]
    seen = client.get(f"/incidents/board.json?seen={fresh['newest']}").get_json()
    assert seen["new"] == 0 and "New report" not in seen["banner"]
    for junk in ("abc", "-1", "1e9", "99999999999"):
        answer = client.get(f"/incidents/board.json?seen={junk}")
        assert answer.status_code == 200 and answer.get_json()["new"] == 0


def test_board_page_without_script_refreshes_and_keeps_the_banner(client, svc, coordinator_id, members):  # noqa: F811
    """Without JavaScript the page refreshes itself to ?seen=<newest shown>, which keeps announcing
    a report that came in after it, until marked seen."""
    page = client.get("/incidents").data.decode()
    refresh = re.search(r'http-equiv="refresh" content="\d+;url=([^"]+)"', page).group(1)
    assert refresh == "/incidents?seen=0"
    incident = report(client, svc)
    later = client.get(refresh.replace("&amp;", "&")).data.decode()
    assert f"New report: {incident.code}" in later and "<title>(1 new) Incidents" in later
    assert "New report" not in client.get("/incidents").data.decode()


def test_message_texts_those_on_the_way_once_per_form(client, svc, coordinator_id, members):  # noqa: F811
    """The reply box texts each responder who said YES (not those who did not), with one thread line;
    the same form sent again (double click, reload) sends nothing more."""
    incident = report(client, svc)
    alert_first_layer(svc, incident.id)
    Phone(client, VERIFIERS[0]).reply_to("YES")
    page = client.post(f"/incidents/{incident.id}/message", data={"body": "Meet at the corner.", "key": KEY},
                       follow_redirects=True).data.decode()
    assert f"Message texted to the 1 person on the way to {incident.code}." in page
    assert team_texts(svc) == 1 and team_lines(svc) == 1
    again = client.post(f"/incidents/{incident.id}/message", data={"body": "Meet at the corner.", "key": KEY},
                        follow_redirects=True).data.decode()
    assert "That message was already sent." in again
    assert team_texts(svc) == 1 and team_lines(svc) == 1
    with svc.db.session() as session:
        text = session.scalars(select(OutboundMessage).where(OutboundMessage.dedupe_key.like("team:%"))).one()
        assert svc.cipher.decrypt(text.body_token) == f"[{incident.code}] coordinator: Meet at the corner."


@pytest.mark.parametrize(("data", "says"), [
    ({"body": "", "key": KEY}, "Write the message first."),
    ({"body": "   ", "key": KEY}, "Write the message first"),
    ({"body": "x" * 301, "key": KEY}, "At most 300 characters."),
])
def test_bad_message_says_why_and_sends_nothing(client, svc, coordinator_id, members, data, says):  # noqa: F811
    """An empty or too long message gets a clear message on the page; nothing is sent or written."""
    incident = report(client, svc)
    alert_first_layer(svc, incident.id)
    Phone(client, VERIFIERS[0]).reply_to("YES")
    response = client.post(f"/incidents/{incident.id}/message", data=data, follow_redirects=True)
    assert response.status_code in (200, 400) and says in response.data.decode()
    assert team_texts(svc) == 0 and team_lines(svc) == 0


def test_message_with_a_forged_key_is_refused(client, svc, coordinator_id, members):  # noqa: F811
    """A form without its one-time key (or with a made-up one) is a 400 and sends nothing."""
    incident = report(client, svc)
    alert_first_layer(svc, incident.id)
    Phone(client, VERIFIERS[0]).reply_to("YES")
    for key in ("", "not-hex", KEY + "0"):
        response = client.post(f"/incidents/{incident.id}/message", data={"body": "hi", "key": key})
        assert response.status_code == 400
    assert team_texts(svc) == 0


def test_message_when_nobody_is_on_the_way_or_incident_closed(client, svc, coordinator_id, members):  # noqa: F811
    """Nobody on the way yet, or a closed incident: the page says so and nothing is sent."""
    incident = report(client, svc)
    alert_first_layer(svc, incident.id)
    page = client.post(f"/incidents/{incident.id}/message", data={"body": "hi", "key": KEY},
                       follow_redirects=True).data.decode()
    assert f"Nobody has said they are on the way to {incident.code} yet; nothing was sent." in page
    client.post(f"/incidents/{incident.id}/decision", data={"decision": "resolve"})
    page = client.post(f"/incidents/{incident.id}/message", data={"body": "hi", "key": KEY},
                       follow_redirects=True).data.decode()
    assert f"{incident.code} is closed; nothing was sent." in page
    assert team_texts(svc) == 0
    assert client.post("/incidents/999/message", data={"body": "hi", "key": KEY}).status_code == 404


def test_message_without_csrf_token_is_refused(app, svc, members):  # noqa: F811
    """With CSRF on (as in production), a message POST lacking the token is a 400 and sends nothing."""
    app.config["WTF_CSRF_ENABLED"] = True
    client = app.test_client()
    add_coordinator(svc)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', client.get("/login").data.decode()).group(1)
    client.post("/login", data={"email": "ana@example.org", "password": "correct horse battery staple",
                                "csrf_token": token})
    incident = report(client, svc)
    alert_first_layer(svc, incident.id)
    Phone(client, VERIFIERS[0]).reply_to("YES")
    refused = client.post(f"/incidents/{incident.id}/message", data={"body": "hi", "key": KEY})
    assert refused.status_code == 400 and b"CSRF" in refused.data
    assert team_texts(svc) == 0


@pytest.mark.parametrize(("kind", "detail", "sentence"), [
    ("report", {"zone": "centro"}, "Report received for zone centro."),
    ("report", {"zone": None}, "Report received; no zone named."),
    ("layer_alerted", {"layer": 1, "recipients": 2, "unverified": False}, "Layer 1 (verifiers) alerted: 2 people."),
    ("layer_alerted", {"layer": 2, "recipients": 1, "unverified": True},
     "Layer 2 (rapid responders) alerted: 1 person, before the report was verified."),
    ("layer_skipped", {"layer": 3, "recipients": 0, "unverified": False}, "Layer 3 skipped: nobody in it to alert."),
    ("acknowledged", {"layer": 1}, "On the way (layer 1, verifiers)."),
    ("acknowledged", {"layer": None}, "On the way."),
    ("declined", {"layer": 2}, "Can't come (layer 2, rapid responders)."),
    ("status", {"from": "verifying", "to": "false_alarm"}, "Marked false alarm (was verifying)."),
    ("alert_sent", {"layer": 1, "message": 9}, "Alert text to layer 1 (verifiers) handed to the provider."),
    ("stand_down_sent", {"layer": None, "message": 9}, "Stand-down text handed to the provider."),
    ("alert_sent", {"layer": 2, "message": 9, "by": "call"}, "Alert call to layer 2 (rapid responders) placed."),
    ("delivery", {"status": "delivered", "error": None, "purpose": "alert", "layer": 1},
     "Alert text (layer 1, verifiers): delivered (provider's report)."),
    ("delivery", {"status": "undelivered", "error": 30003, "purpose": "relay", "layer": None},
     "Relayed message: undelivered (provider's report), error 30003."),
    ("team_message", {"recipients": 3}, "Message from the console, texted to 3 people on the way."),
    ("acknowledged", {"layer": 2, "by": "call"}, "On the way (layer 2, rapid responders) by call."),
    ("declined", {"layer": 2, "by": "call"}, "Can't come (layer 2, rapid responders) by call."),
    ("delivery", {"status": "undelivered", "error": None, "purpose": "alert", "layer": 2, "by": "call"},
     "Alert call (layer 2, rapid responders): undelivered (provider's report)."),
    ("not_reached", {"by": "call", "outcome": "no-answer", "layer": 2, "message": 9},
     "Not reached by call (layer 2, rapid responders): no answer; still counted as not answered."),
    ("not_reached", {"by": "call", "outcome": "machine", "layer": 1, "message": 9},
     "Not reached by call (layer 1, verifiers): voicemail answered; still counted as not answered."),
    ("something_new", {"count": 2, "flag": False, "name": "verifiers"}, "Something new: count 2, name verifiers."),
])
def test_thread_lines_read_as_sentences(kind, detail, sentence):
    """Each thread event reads as a short sentence, never as raw keys and values."""
    assert describe(kind, detail, {1: "verifiers", 2: "rapid responders"}) == sentence
