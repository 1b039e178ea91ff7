"""A campaign call, step by step, every webhook signed as Twilio signs it: CALL / LLAMAR, the bridge
(<Dial> from the network's number, never the member's), holding when every line is taken, pacing
per target, a target that is busy, a member who hangs up before the bridge, the one text after,
DONE / HECHO in both languages, and CALL with no campaign or outside its window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree

import pytest
from sqlalchemy import update

from rapidresponse.campaigns import calls
from rapidresponse.campaigns.models import CallState, Campaign
from rapidresponse.messaging.models import Channel, DeliveryStatus, OutboundMessage, Purpose
from tests.conftest import FROM_NUMBER, Phone, add_member, row, signed_post
from tests.web.campaign_helpers import (
    SHERIFF,
    WARDEN,
    bridge,
    call_row,
    campaign,
    dial_ended,
    leg_status,
    make_campaign,
    member_call,
    texts_to,
)
from tests.web.voice_helpers import Call, call_status, said, spoken

ANA, BEN, CRUZ = "+12125550161", "+12125550162", "+12125550163"


def dialled(xml: bytes) -> tuple[str | None, str]:
    """(callerId, number) of the answer's <Dial>."""
    dial = ElementTree.fromstring(xml).find("Dial")
    assert dial is not None, xml
    number = dial.find("Number")
    return dial.get("callerId"), (number.text or "").strip()


def placed(svc, phone: str):
    """Our call to the member, as the sender leaves it (queued at Twilio with a SID)."""
    call = member_call(svc, phone)
    with svc.db.session() as session:
        session.execute(update(OutboundMessage).where(OutboundMessage.id == call.message_id).values(
            status=DeliveryStatus.QUEUED.value, provider_sid=call.sid))
    return call


def one_line(svc) -> None:
    """CAMPAIGN_CALLS_PER_TARGET=1 for this test's app (settings are frozen: set as a restart would)."""
    object.__setattr__(svc.settings, "campaign_calls_per_target", 1)


@pytest.fixture
def members(svc):
    return {phone: add_member(svc, phone, language=lang) for phone, lang in ((ANA, "en"), (BEN, "es"), (CRUZ, "en"))}


def test_call_with_no_campaign_running_says_so(client, svc, members):
    """CALL / LLAMAR with nothing running: a clear text in the member's language, no call."""
    assert "No call-in is running" in Phone(client, ANA).reply_to("CALL")
    assert "No hay ninguna campana" in Phone(client, BEN).reply_to("LLAMAR")
    assert texts_to(svc, ANA, Purpose.CAMPAIGN_CALL) == []


def test_call_outside_the_window_says_when_it_opens_or_that_it_closed(client, svc, members):
    """Before the window opens: when it does. After it closed (the sweep not yet by): closed. No call."""
    campaign_id = make_campaign(svc, opens=timedelta(hours=2), closes=timedelta(hours=5))
    assert "The call-in opens at" in Phone(client, ANA).reply_to("CALL")
    with svc.db.session() as session:
        session.execute(update(Campaign).where(Campaign.id == campaign_id).values(
            window_start=datetime.now(UTC) - timedelta(hours=5), window_end=datetime.now(UTC) - timedelta(minutes=1)))
    assert "has closed" in Phone(client, ANA).reply_to("CALL")
    assert "ya cerro" in Phone(client, BEN).reply_to("LLAMAR")
    assert texts_to(svc, ANA, Purpose.CAMPAIGN_CALL) == []


def test_call_records_one_call_to_the_member_that_reads_the_first_line(client, svc, members):
    """CALL: "calling you now", and one voice row in the outbox whose words are the script's first
    line in the member's language; a second CALL while it rings records nothing more."""
    make_campaign(svc)
    assert "Calling you now from our number" in Phone(client, ANA).reply_to("CALL")
    assert "Te llamamos ahora" in Phone(client, BEN).reply_to("LLAMAR")
    assert "calling you already" in Phone(client, ANA).reply_to("CALL")
    [spoken_en] = texts_to(svc, ANA, Purpose.CAMPAIGN_CALL)
    [spoken_es] = texts_to(svc, BEN, Purpose.CAMPAIGN_CALL)
    assert "calling about the people held in solitary" in spoken_en and "Please end it today" not in spoken_en
    assert "llamo por las personas en aislamiento" in spoken_es
    message = row(svc, OutboundMessage, member_call(svc, ANA).message_id)
    assert message.channel == Channel.VOICE.value and message.status == DeliveryStatus.PENDING.value


def test_the_sender_places_a_call_that_speaks_then_asks_the_bridge(svc, members, client):
    """The placed TwiML says the first line and redirects to the bridge webhook with our id only."""
    from rapidresponse.campaigns import twiml
    from rapidresponse.i18n import say_options

    xml = twiml.opening("Say this", say_options("en"), twiml.bridge_url("https://rr.example.org", 42))
    assert spoken(xml.encode()) == [("Say", "Say this"), ("Redirect", "https://rr.example.org/twilio/voice/campaign?m=42")]


def test_the_bridge_dials_the_target_from_the_networks_number(client, svc, members):
    """On the line, the member is connected with <Dial callerId=our number> to the target: the
    member's number is nowhere in what the target's side sees."""
    make_campaign(svc)
    Phone(client, ANA).reply_to("CALL")
    call = placed(svc, ANA)
    response = bridge(client, call)
    assert response.status_code == 200
    assert dialled(response.data) == (FROM_NUMBER, WARDEN)
    assert ANA not in response.data.decode()
    assert call_row(svc, call.message_id).state == CallState.BRIDGING.value


def test_pacing_holds_the_next_member_until_a_line_is_free(client, svc, members):
    """With one line per target, a second member is told to hold (Pause, then ask again); once the
    first bridge ends, the next ask connects them."""
    one_line(svc)
    make_campaign(svc)
    Phone(client, ANA).reply_to("CALL")
    Phone(client, CRUZ).reply_to("CALL")
    first, second = placed(svc, ANA), placed(svc, CRUZ)
    assert dialled(bridge(client, first).data)[1] == WARDEN
    held = bridge(client, second).data
    verbs = [verb for verb, _ in spoken(held)]
    assert verbs == ["Say", "Pause", "Redirect"] and "Please hold" in said(held)
    assert [verb for verb, _ in spoken(bridge(client, second).data)] == ["Pause", "Redirect"]  # no second "hold"
    dial_ended(client, first, "completed", seconds=80)
    assert dialled(bridge(client, second).data)[1] == WARDEN


def test_calls_are_spread_across_targets(client, svc, members):
    """Two targets: two members at once go one to each."""
    make_campaign(svc, targets=f"Warden's office, {WARDEN}\nSheriff, {SHERIFF}")
    Phone(client, ANA).reply_to("CALL")
    Phone(client, CRUZ).reply_to("CALL")
    numbers = {dialled(bridge(client, placed(svc, phone)).data)[1] for phone in (ANA, CRUZ)}
    assert numbers == {WARDEN, SHERIFF}


def test_a_member_held_too_long_is_told_to_try_later(client, svc, members):
    """After the longest hold, the member hears "still busy, text CALL later" and the call ends."""
    one_line(svc)
    make_campaign(svc)
    Phone(client, ANA).reply_to("CALL")
    Phone(client, CRUZ).reply_to("CALL")
    bridge(client, placed(svc, ANA))
    second = placed(svc, CRUZ)
    for _ in range(calls.MAX_HOLDS):
        bridge(client, second)
    last = bridge(client, second).data
    assert "still busy" in said(last) and spoken(last)[-1][0] == "Hangup"
    assert call_row(svc, second.message_id).state == CallState.ENDED.value


def test_a_completed_bridge_counts_its_minutes_and_texts_thanks_once(client, svc, members):
    """The Dial's action and the leg's final callback both report the end: counted once (1 call,
    2 minutes), one thanks text with the count so far, and the call no longer names the member."""
    campaign_id = make_campaign(svc)
    Phone(client, ANA).reply_to("CALL")
    call = placed(svc, ANA)
    bridge(client, call)
    assert leg_status(client, call, "in-progress").status_code == 204
    answer = dial_ended(client, call, "completed", seconds=95)
    assert "Thank you for calling" in said(answer.data) and spoken(answer.data)[-1][0] == "Hangup"
    assert leg_status(client, call, "completed", seconds=95).status_code == 204
    found = campaign(svc, campaign_id)
    assert (found.calls_bridged, found.bridged_seconds) == (1, 95)
    [thanks] = [t for t in texts_to(svc, ANA) if "Thank you" in t]
    assert "1 calls so far" in thanks
    ended = call_row(svc, call.message_id)
    assert ended.member_id is None and ended.state == CallState.ENDED.value and ended.dial_sid is not None


def test_the_leg_callback_alone_ends_the_bridge(client, svc, members):
    """If the Dial's action is lost, the bridged leg's completed callback counts the call."""
    campaign_id = make_campaign(svc)
    Phone(client, ANA).reply_to("CALL")
    call = placed(svc, ANA)
    bridge(client, call)
    leg_status(client, call, "completed", seconds=30)
    dial_ended(client, call, "completed", seconds=30)
    assert campaign(svc, campaign_id).calls_bridged == 1
    assert len([t for t in texts_to(svc, ANA) if "Thank you" in t]) == 1


@pytest.mark.parametrize("status", ["busy", "no-answer"])
def test_a_busy_target_is_told_and_counted_not_bridged(client, svc, members, status):
    """The target's line is busy (or rings out): the member hears so, gets one "try again" text, and
    the campaign counts a busy line, not a bridged call."""
    campaign_id = make_campaign(svc)
    Phone(client, ANA).reply_to("CALL")
    call = placed(svc, ANA)
    bridge(client, call)
    answer = dial_ended(client, call, status)
    assert "line is busy" in said(answer.data)
    found = campaign(svc, campaign_id)
    assert (found.calls_bridged, found.calls_busy) == (0, 1)
    assert [t for t in texts_to(svc, ANA) if "busy" in t]
    assert "Calling you now" in Phone(client, ANA).reply_to("CALL")  # and they may try again


def test_a_member_who_hangs_up_before_the_bridge_holds_no_line(client, svc, members):
    """The member's call ends (hung up during the first line, or never answered) before any bridge:
    the call is over, no line is held, no text is sent, and a late bridge request just says goodbye."""
    one_line(svc)
    campaign_id = make_campaign(svc)
    Phone(client, ANA).reply_to("CALL")
    call = placed(svc, ANA)
    assert call_status(client, Call(call.message_id, call.sid, 0, ANA), "completed").status_code == 204
    assert call_row(svc, call.message_id).state == CallState.ENDED.value
    late = bridge(client, call).data
    assert spoken(late)[-1][0] == "Hangup" and b"<Dial" not in late
    Phone(client, CRUZ).reply_to("CALL")
    assert dialled(bridge(client, placed(svc, CRUZ)).data)[1] == WARDEN  # the one line is free
    assert campaign(svc, campaign_id).calls_bridged == 0
    assert [t for t in texts_to(svc, ANA)] == []


def test_a_bridge_request_after_the_campaign_ended_says_goodbye(client, svc, members):
    """Ended meanwhile: the member hears that the call-in closed, and nothing is dialled."""
    from rapidresponse.campaigns import service as campaigns

    campaign_id = make_campaign(svc)
    Phone(client, ANA).reply_to("CALL")
    call = placed(svc, ANA)
    with svc.db.session() as session:
        campaigns.end(session, campaign_id, None, datetime.now(UTC))
    answer = bridge(client, call).data
    assert "has closed" in said(answer) and b"<Dial" not in answer


@pytest.mark.parametrize(("phone", "text", "column", "reply"), [
    (ANA, "DONE", "done_unsaid", "Next time you can tell us"),
    (ANA, "DONE voicemail", "done_voicemail", "Thank you for calling! 1 calls so far."),
    (ANA, "done talked", "done_talked", "Thank you for calling!"),
    (ANA, "DONE hung up", "done_hung_up", "Thank you for calling!"),
    (BEN, "HECHO", "done_unsaid", "La proxima vez puedes contarnos"),
    (BEN, "hecho buzón", "done_voicemail", "Gracias por llamar! Van 1 llamadas."),
    (BEN, "HECHO hablé", "done_talked", "Gracias por llamar!"),
    (BEN, "hecho colgaron", "done_hung_up", "Gracias por llamar!"),
])
def test_done_counts_what_happened_in_both_languages(client, svc, members, phone, text, column, reply):
    """DONE / HECHO, alone or with how it went: one count under that outcome, and thanks."""
    campaign_id = make_campaign(svc)
    assert reply in Phone(client, phone).reply_to(text)
    assert getattr(campaign(svc, campaign_id), column) == 1


def test_done_with_no_campaign_running_says_so(client, svc, members):
    assert "No call-in is running" in Phone(client, ANA).reply_to("DONE")


@pytest.mark.parametrize("path", ["/twilio/voice/campaign", "/twilio/voice/campaign/after",
                                  "/twilio/voice/campaign/leg"])
def test_unsigned_campaign_webhooks_are_refused(client, svc, path):
    """A request not signed with our auth token is a 403; nothing is dialled or counted."""
    response = client.post(path + "?m=1", data={"CallSid": "CA" + "0" * 32, "CallStatus": "completed"})
    assert response.status_code == 403


@pytest.mark.parametrize(("path", "params"), [
    ("/twilio/voice/campaign", {}),
    ("/twilio/voice/campaign/after", {"CallSid": "CA1", "DialCallStatus": "completed", "DialCallDuration": "x"}),
    ("/twilio/voice/campaign/leg", {"CallSid": "CA1", "CallStatus": "<b>"}),
])
def test_malformed_campaign_webhooks_get_400(client, svc, path, params):
    """Missing CallSid, a duration that is no number, a status Twilio never sends: 400, never a 500."""
    assert signed_post(client, path, params, query="m=1").status_code == 400


def test_who_called_is_gone_at_the_retention_purge_and_the_counts_stay(client, svc, members):
    """After the purge's cutoff no row says which member called which target; the campaign keeps
    its counts (1 call, 95 s)."""
    from sqlalchemy import func, select

    from rapidresponse.campaigns.models import CampaignCall
    from rapidresponse.privacy.retention import purge

    campaign_id = make_campaign(svc)
    Phone(client, ANA).reply_to("CALL")
    call = placed(svc, ANA)
    bridge(client, call)
    dial_ended(client, call, "completed", seconds=95)
    with svc.db.session() as session:
        purge(session, datetime.now(UTC) + timedelta(days=1))
    with svc.db.session() as session:
        assert session.scalar(select(func.count()).select_from(CampaignCall)) == 0
    found = campaign(svc, campaign_id)
    assert (found.calls_bridged, found.bridged_seconds) == (1, 95)
