"""POST /twilio/voice/alert: an alert call's keys, signed like every Twilio webhook. 1 on my way and
2 can't go take the same path as an SMS YES / NO; * or silence replays the alert, at most 3 plays."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from rapidresponse.incidents.models import Acknowledgement, Incident
from rapidresponse.messaging.models import OutboundMessage
from tests.conftest import PUBLIC_BASE_URL, Phone, row
from tests.web.voice_helpers import (
    call_status,
    placed_calls,
    press,
    report,
    said,
    spoken,
    thread,
    voice_members,
)

ANA, BO, CY = "+12125550191", "+12125550192", "+12125550193"


@pytest.fixture
def calls(client, svc):
    """Three responders on voice in the ice tree's layer 2 (quorum 3), their alert calls placed."""
    voice_members(svc, ANA, BO, CY)
    incident = report(client, svc)
    return incident, placed_calls(svc, incident.id)


def acks(svc, incident_id: int) -> list[str]:
    with svc.db.session() as session:
        return list(session.scalars(select(Acknowledgement.answer).where(
            Acknowledgement.incident_id == incident_id).order_by(Acknowledgement.id)).all())


def spelled(code: str) -> str:
    return ", ".join(code)


def test_one_means_on_my_way_and_says_the_count(client, svc, calls):
    """Pressing 1 records an acknowledgement through the SMS path and reads back its reply, code spelled."""
    incident, placed = calls
    response = press(client, placed[ANA], "1")
    assert response.status_code == 200 and response.mimetype == "application/xml"
    verbs = spoken(response.data)
    assert verbs[-1] == ("Hangup", "")
    assert said(response.data) == f"Got it: 1 of 3 on the way to {spelled(incident.code)}. " \
                                  f"Text {spelled(incident.code)} and an update anytime."
    assert acks(svc, incident.id) == ["yes"]
    [line] = thread(svc, incident.id, "acknowledged")
    assert line.detail == {"layer": 2, "by": "call"} and line.participant_id is not None


def test_two_means_cannot_go(client, svc, calls):
    """Pressing 2 declines, as a NO would, and says so."""
    incident, placed = calls
    response = press(client, placed[BO], "2")
    assert said(response.data) == f"Thanks for letting us know. You're not counted for {spelled(incident.code)}."
    assert acks(svc, incident.id) == ["no"]
    assert thread(svc, incident.id, "declined")[0].detail == {"layer": 2, "by": "call"}


def test_a_layer_reaches_quorum_by_keypress_and_by_text_alike(client, svc, calls):
    """Two keypresses and one SMS YES make the quorum of 3: the third hears the incident is covered."""
    incident, placed = calls
    press(client, placed[ANA], "1")
    Phone(client, BO).reply_to("YES")
    response = press(client, placed[CY], "1")
    assert said(response.data).startswith("Thank you, you're on the way and")
    assert row(svc, Incident, incident.id).covered_at is not None
    assert acks(svc, incident.id) == ["yes", "yes", "yes"]


def test_a_retried_keypress_acts_once(client, svc, calls):
    """Twilio retrying the same Gather callback records nothing more and says the answer is recorded."""
    incident, placed = calls
    press(client, placed[ANA], "1")
    again = press(client, placed[ANA], "1")
    assert said(again.data) == "Your answer is already recorded. Thank you. Goodbye."
    assert acks(svc, incident.id) == ["yes"]
    assert len(thread(svc, incident.id, "acknowledged")) == 1
    assert row(svc, OutboundMessage, placed[ANA].message_id).keypress == "1"


@pytest.mark.parametrize("digits", [None, "*"])
def test_silence_or_star_plays_the_alert_again(client, svc, calls, digits):
    """No key (the Gather timed out) or * plays the same alert again, gathering into play 2."""
    incident, placed = calls
    call = placed[ANA]
    verbs = spoken(press(client, call, digits, play=1).data)
    assert verbs[0] == ("Gather", f"{PUBLIC_BASE_URL}/twilio/voice/alert?m={call.message_id}&p=2")
    [(verb, words)] = verbs[1:]
    assert verb == "Say" and words.startswith(f"Rapid Response alert {spelled(incident.code)}. ICE activity")
    assert "Press 1 if you are on your way" in words
    assert acks(svc, incident.id) == []


def test_a_key_that_means_nothing_says_so_and_replays(client, svc, calls):
    """A 9 is not an answer: the call says so and plays the alert again."""
    incident, placed = calls
    verbs = spoken(press(client, placed[ANA], "9", play=2).data)
    assert verbs[0][0] == "Gather" and verbs[0][1].endswith("&p=3")
    assert verbs[1] == ("Say", "Sorry, that key does nothing here.")
    assert verbs[2][1].startswith("Rapid Response alert")
    assert acks(svc, incident.id) == []


@pytest.mark.parametrize("digits", [None, "*", "7"])
def test_after_the_third_play_the_call_says_goodbye(client, svc, calls, digits):
    """At most 3 plays: nothing (or * or a wrong key) after the third ends the call, no answer recorded."""
    incident, placed = calls
    verbs = spoken(press(client, placed[ANA], digits, play=3).data)
    assert "Gather" not in [verb for verb, _ in verbs] and verbs[-1] == ("Hangup", "")
    assert verbs[-2] == ("Say", "We did not get an answer. You can still answer by text. Goodbye.")
    assert acks(svc, incident.id) == []


def test_spanish_member_hears_spanish_in_a_spanish_voice(client, svc):
    """A Spanish member's call speaks es-MX with the catalog's voice, and reads the Spanish reply."""
    voice_members(svc, ANA, language="es")
    incident = report(client, svc)
    call = placed_calls(svc, incident.id)[ANA]
    response = press(client, call, None)
    xml = response.data.decode()
    assert 'language="es-MX"' in xml and 'voice="Polly.Mia"' in xml
    assert said(response.data).startswith("Alerta de Respuesta Rápida")
    answered = press(client, call, "1", play=2)
    assert said(answered.data).startswith(f"Recibido: 1 de 3 en camino a {spelled(incident.code)}.")


def test_a_key_after_the_incident_closed_counts_for_nothing(client, svc, calls):
    """Once the incident is closed, a 1 is not an acknowledgement; the call says the alert is over."""
    incident, placed = calls
    with svc.db.session() as session:
        from rapidresponse.incidents import responses
        from rapidresponse.incidents.states import IncidentStatus
        found = session.get(Incident, incident.id)
        responses.close_incident(svc, session, found, IncidentStatus.RESOLVED, found.opened_at, actor="test")
    assert said(press(client, placed[ANA], "1").data) == "This alert is over. Thank you. Goodbye."
    assert acks(svc, incident.id) == []


def test_a_forged_keypress_is_refused(client, svc, calls):
    """A Gather callback not signed with our token is a 403 and records nothing."""
    incident, placed = calls
    response = press(client, placed[ANA], "1", token="not-the-token")
    assert response.status_code == 403
    assert acks(svc, incident.id) == []


def test_a_keypress_signed_for_another_call_is_refused(client, svc, calls):
    """The signature covers the query: a valid signature for ?m=A&p=1 does not work for ?m=B&p=1."""
    from tests.conftest import ACCOUNT_SID, sign

    incident, placed = calls
    ana, bo = placed[ANA], placed[BO]
    params = {"CallSid": bo.sid, "AccountSid": ACCOUNT_SID, "Digits": "1"}
    signature = sign(f"{PUBLIC_BASE_URL}/twilio/voice/alert?m={ana.message_id}&p=1", params)
    response = client.post(f"/twilio/voice/alert?m={bo.message_id}&p=1", data=params,
                           headers={"X-Twilio-Signature": signature})
    assert response.status_code == 403 and acks(svc, incident.id) == []


def test_a_call_we_never_placed_hears_goodbye(client, svc, calls):
    """A CallSid that is not the message's call (or a message that does not exist) is answered politely,
    records nothing, and hangs up."""
    incident, placed = calls
    stranger = placed[ANA].__class__(placed[ANA].message_id, "CA" + "f" * 32, placed[ANA].member_id, ANA)
    unknown = press(client, stranger, "1")
    assert unknown.status_code == 200
    assert spoken(unknown.data) == [("Say", "Sorry, this call is not an alert we know of. Goodbye."), ("Hangup", "")]
    missing = press(client, placed[ANA], "1", query="m=999999&p=1")
    assert missing.status_code == 200 and "not an alert we know of" in said(missing.data)
    assert acks(svc, incident.id) == []


@pytest.mark.parametrize("query", ["", "m=abc&p=1", "m=1", "m=1&m=2&p=1", "m=1&p=x", "m=99999999999999999999&p=1"])
def test_a_malformed_action_url_is_a_400(client, svc, calls, query):
    """Anything our action URLs never carry is a 400, never a 500."""
    _, placed = calls
    assert press(client, placed[ANA], "1", query=query).status_code == 400


def test_a_text_answer_and_a_keypress_are_one_answer(client, svc, calls):
    """A member who texted YES and then presses 1 is counted once."""
    incident, placed = calls
    Phone(client, ANA).reply_to("YES")
    press(client, placed[ANA], "1")
    assert acks(svc, incident.id) == ["yes"]


def test_the_keypress_takes_the_sid_when_it_beats_the_sender(client, svc, calls):
    """A Gather that arrives before the sender recorded the SID still finds its call by our id."""
    from sqlalchemy import update

    incident, placed = calls
    with svc.db.session() as session:
        session.execute(update(OutboundMessage).where(OutboundMessage.id == placed[ANA].message_id)
                        .values(provider_sid=None))
    press(client, placed[ANA], "1")
    assert acks(svc, incident.id) == ["yes"]
    assert row(svc, OutboundMessage, placed[ANA].message_id).provider_sid == placed[ANA].sid
    call_status(client, placed[ANA], "completed")
    assert thread(svc, incident.id, "not_reached") == []
