"""Placing alert calls through the outbox: Twilio's Calls.json gets the alert's TwiML, exactly once,
reconciled after a crash, at the call rate of its own, and never to someone who cannot take it."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs
from xml.etree import ElementTree

import pytest
import responses
from sqlalchemy import select, update

from rapidresponse.incidents.models import ThreadEvent
from rapidresponse.members.models import Member, MemberStatus
from rapidresponse.messaging import outbox
from rapidresponse.messaging.models import Channel, DeliveryStatus, OutboundMessage, Purpose
from rapidresponse.messaging.sender import Sender
from tests.conftest import ACCOUNT_SID, FROM_NUMBER, PUBLIC_BASE_URL, add_member, row

NOW = datetime(2025, 3, 4, 9, 30, tzinfo=UTC)
RESPONDER = "+12125550170"
OTHER = "+12125550171"
SCRIPT = "Rapid Response alert K, 7. ICE activity, eastside: 2 vans. Press 1 if you are on your way."
TWILIO_CALLS = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"


def call_intent(svc, to: str = RESPONDER, *, member_id: int | None = None, created: datetime = NOW,
                channel: Channel = Channel.VOICE, body: str = SCRIPT) -> int:
    with svc.db.session() as session:
        [message_id] = outbox.record(session, svc.cipher, [outbox.Text(
            to=to, body=body, purpose=Purpose.ALERT, dedupe_key=f"test:{uuid.uuid4().hex}", member_id=member_id,
            valid_until=created + timedelta(hours=1), channel=channel,
        )], created)
    return message_id


def placed(api: responses.RequestsMock) -> list[dict[str, list[str]]]:
    """The Calls.json creates Twilio received, as forms (lists: StatusCallbackEvent repeats)."""
    return [parse_qs(call.request.body or "") for call in api.calls
            if call.request.method == "POST" and "Calls.json" in call.request.url]


def _call_created(request: Any) -> tuple[int, dict[str, str], str]:
    form = {k: v[0] for k, v in parse_qs(request.body or "").items()}
    return 201, {}, json.dumps({"sid": "CA" + uuid.uuid4().hex, "status": "queued", "to": form.get("To"),
                                "from": form.get("From"), "account_sid": ACCOUNT_SID})


@pytest.fixture
def calls_api(twilio_api: responses.RequestsMock) -> responses.RequestsMock:
    twilio_api.add_callback(responses.POST, TWILIO_CALLS, callback=_call_created)
    return twilio_api


def provider_called(api: responses.RequestsMock, *sids: str, to: str = RESPONDER) -> None:
    """Twilio's list of calls to the number holds these calls, created just after NOW's intent."""
    api.add(responses.GET, TWILIO_CALLS, json={
        "calls": [{"sid": sid, "to": to, "from": FROM_NUMBER, "status": "completed", "account_sid": ACCOUNT_SID,
                   "date_created": "Tue, 04 Mar 2025 09:20:01 +0000"} for sid in sids],
        "next_page_uri": None, "page": 0, "page_size": 50, "start": 0, "end": max(0, len(sids) - 1),
        "uri": "/2010-04-01/Accounts/x/Calls.json", "first_page_uri": None, "previous_page_uri": None,
    })


@pytest.fixture
def sender(svc):
    sender = Sender(svc, clock=lambda: NOW)
    yield sender
    sender.close()


def test_call_plays_the_alert_then_gathers_one_key(svc, calls_api, sender):
    """A voice row is placed as a call from our number whose TwiML says the alert in the member's
    language and voice, inside a one-key Gather whose action carries only our id and the play."""
    member_id = add_member(svc, RESPONDER, language="es")
    message_id = call_intent(svc, member_id=member_id)
    outcome = sender.send([message_id])
    assert (outcome.sent, outcome.failed) == (1, 0)
    [form] = placed(calls_api)
    assert form["To"] == [RESPONDER] and form["From"] == [FROM_NUMBER]
    assert form["StatusCallback"] == [f"{PUBLIC_BASE_URL}/twilio/voice/status?m={message_id}"]
    assert sorted(form["StatusCallbackEvent"]) == ["answered", "completed", "initiated", "ringing"]
    root = ElementTree.fromstring(form["Twiml"][0])
    [gather] = root.findall("Gather")
    assert gather.get("numDigits") == "1" and gather.get("actionOnEmptyResult") == "true"
    assert gather.get("action") == f"{PUBLIC_BASE_URL}/twilio/voice/alert?m={message_id}&p=1"
    [say] = gather.findall("Say")
    assert (say.get("language"), say.get("voice"), say.text) == ("es-MX", "Polly.Mia", SCRIPT)
    assert RESPONDER not in form["Twiml"][0]
    sent = row(svc, OutboundMessage, message_id)
    assert sent.status == DeliveryStatus.QUEUED.value and sent.provider_sid.startswith("CA")
    assert calls_api.calls[-1].response.json()["sid"] == sent.provider_sid


def test_texts_and_calls_in_one_job_each_go_their_own_way(svc, calls_api, sender):
    """A job holding a text and a call sends the text through Messages and places the call through Calls."""
    text_id = call_intent(svc, OTHER, channel=Channel.SMS, body="[K7] ICE. Reply YES or NO.")
    call_id = call_intent(svc)
    assert sender.send([text_id, call_id]).sent == 2
    assert len(placed(calls_api)) == 1
    assert sum(1 for c in calls_api.calls if "Messages.json" in c.request.url) == 1
    assert row(svc, OutboundMessage, text_id).provider_sid.startswith("SM")


def test_placing_twice_calls_once(svc, calls_api, sender):
    """A send job run twice (a retried job) rings the member once."""
    message_id = call_intent(svc)
    sender.send([message_id])
    sender.send([message_id])
    assert len(placed(calls_api)) == 1


def test_sent_call_is_a_thread_line_by_call(svc, calls_api, sender, client):
    """The call placed for an incident is a thread line naming its message, marked as a call."""
    from tests.jobs.test_escalation_service import open_by_text

    incident = open_by_text(client, "ICE 5th and Main")
    with svc.db.session() as session:
        [message_id] = outbox.record(session, svc.cipher, [outbox.Text(
            to=RESPONDER, body=SCRIPT, purpose=Purpose.ALERT, dedupe_key="t:1", incident_id=incident.id, layer=2,
            channel=Channel.VOICE)], NOW)
    sender.send([message_id])
    with svc.db.session() as session:
        line = session.scalars(select(ThreadEvent).where(ThreadEvent.kind == "alert_sent")).one()
        assert line.detail == {"layer": 2, "message": message_id, "by": "call"}


def abandoned_call(svc, claimed: datetime) -> int:
    message_id = call_intent(svc, created=claimed)
    with svc.db.session() as session:
        session.execute(update(OutboundMessage).where(OutboundMessage.id == message_id).values(
            status=DeliveryStatus.SENDING.value, claimed_at=claimed, attempts=1))
    return message_id


def test_abandoned_call_already_placed_is_recorded_not_placed_again(svc, calls_api, sender):
    """If the dead worker's call reached Twilio (a call to the number since the intent), its SID is
    recorded and the member is not rung again."""
    message_id = abandoned_call(svc, NOW - timedelta(minutes=10))
    provider_called(calls_api, "CAfound0")
    outcome = sender.send([message_id])
    assert (outcome.reconciled, outcome.sent) == (1, 0) and placed(calls_api) == []
    assert row(svc, OutboundMessage, message_id).provider_sid == "CAfound0"


def test_abandoned_call_not_at_the_provider_is_placed(svc, calls_api, sender):
    """No call to the number since the intent: the dead worker never placed it, so it is placed now."""
    message_id = abandoned_call(svc, NOW - timedelta(minutes=10))
    provider_called(calls_api)
    assert sender.send([message_id]).sent == 1 and len(placed(calls_api)) == 1


def test_a_call_another_message_accounts_for_does_not_reconcile(svc, calls_api, sender):
    """A call to the number that is already another alert's (its SID recorded) is not taken for this one."""
    earlier = call_intent(svc, created=NOW - timedelta(minutes=11))
    with svc.db.session() as session:
        session.execute(update(OutboundMessage).where(OutboundMessage.id == earlier).values(
            status=DeliveryStatus.QUEUED.value, provider_sid="CAearlier"))
    message_id = abandoned_call(svc, NOW - timedelta(minutes=10))
    provider_called(calls_api, "CAearlier")
    assert sender.send([message_id]).sent == 1 and len(placed(calls_api)) == 1


def test_reconcile_failure_places_nothing(svc, calls_api, sender):
    """When Twilio's list of calls cannot be read, an abandoned call is not placed blindly."""
    message_id = abandoned_call(svc, NOW - timedelta(minutes=10))
    calls_api.add(responses.GET, TWILIO_CALLS, status=503, json={"code": 20503, "message": "down", "status": 503})
    outcome = sender.send([message_id])
    assert outcome.ambiguous == 1 and placed(calls_api) == []
    assert row(svc, OutboundMessage, message_id).status == DeliveryStatus.SENDING.value


@pytest.mark.parametrize(("member_status", "code", "rings"), [
    (MemberStatus.OPTED_OUT, None, False),
    (MemberStatus.ACTIVE, 21211, False),  # not a number at all
    (MemberStatus.ACTIVE, 30006, True),  # a landline: cannot text, can be called
    (MemberStatus.ACTIVE, 21614, True),  # not a mobile number
])
def test_who_can_be_called(svc, calls_api, sender, member_status, code, rings):
    """Opted-out members and invalid numbers are never called; a landline is."""
    member_id = add_member(svc, RESPONDER, status=member_status)
    with svc.db.session() as session:
        session.get(Member, member_id).undeliverable_code = code
    message_id = call_intent(svc, member_id=member_id)
    sender.send([message_id])
    assert len(placed(calls_api)) == (1 if rings else 0)
    status = row(svc, OutboundMessage, message_id).status
    assert status == (DeliveryStatus.QUEUED.value if rings else DeliveryStatus.CANCELLED.value)


def test_call_refused_by_twilio_fails_without_marking_the_member(svc, twilio_api, sender):
    """A permanent refusal (21215: no permission to call that region) fails the call; the member's
    texts are not affected."""
    member_id = add_member(svc, RESPONDER)
    twilio_api.add(responses.POST, TWILIO_CALLS, status=400, json={
        "code": 21215, "message": "Geo permission", "status": 400})
    message_id = call_intent(svc, member_id=member_id)
    assert sender.send([message_id]).failed == 1
    failed = row(svc, OutboundMessage, message_id)
    assert (failed.status, failed.error_code) == (DeliveryStatus.FAILED.value, 21215)
    assert row(svc, Member, member_id).undeliverable_code is None


def test_calls_wait_at_their_own_rate_limit(svc, calls_api, sender):
    """Calls reserve slots on the call limiter, texts on the text limiter: two timelines."""
    seen: list[str] = []

    class Recording:
        def __init__(self, name: str) -> None:
            self.name = name

        def acquire(self, cost: int = 1, *, bulk: bool = False, ready=None) -> None:
            seen.append(self.name)
            if ready is not None:
                ready()

        def backlog(self) -> float:
            return 0.0

    sender.limiter, sender.call_limiter = Recording("texts"), Recording("calls")  # type: ignore[assignment]
    sender.send([call_intent(svc), call_intent(svc, OTHER, channel=Channel.SMS, body="hi")])
    assert sorted(seen) == ["calls", "texts"]
    assert sender.svc.settings.calls_per_second == 1.0
    assert sender.call_limiter is not sender.limiter


def test_alert_text_refused_as_not_mobile_switches_the_member_to_voice_and_calls(svc, twilio_api, sender, client):
    """Twilio refusing a text alert with 21614 (not a mobile number) at send time: the member is
    switched to voice and one alert call is recorded for the sender's caller to queue."""
    from sqlalchemy import select as select_

    from tests.web.voice_helpers import report, voice_members

    [member_id] = voice_members(svc, RESPONDER, channel="sms")
    incident = report(client, svc)
    with svc.db.session() as session:
        text_id = session.scalars(select_(OutboundMessage.id).where(OutboundMessage.member_id == member_id)).one()
    twilio_api.replace(responses.POST, f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json",
                       status=400, json={"code": 21614, "message": "not a mobile number", "status": 400})
    outcome = sender.send([text_id])
    assert outcome.failed == 1
    member_now = row(svc, Member, member_id)
    assert (member_now.channel, member_now.undeliverable_code) == ("voice", 21614)
    [call_id] = outcome.calls
    call = row(svc, OutboundMessage, call_id)
    assert (call.channel, call.dedupe_key) == ("voice", f"alert:{incident.id}:{member_id}:voice")


def test_no_call_for_a_member_who_already_answered_or_a_closed_incident(svc, calls_api, sender, client):
    """A member on both who texted YES before their call went out is not rung; nor is anyone once the
    incident is closed. Their calls are cancelled, not placed."""
    from sqlalchemy import select as select_

    from rapidresponse.incidents import responses as incident_responses
    from rapidresponse.incidents.models import Incident
    from rapidresponse.incidents.states import IncidentStatus
    from tests.conftest import Phone
    from tests.web.voice_helpers import report, voice_members

    ana, bo = voice_members(svc, RESPONDER, OTHER, channel="both")
    incident = report(client, svc)
    Phone(client, RESPONDER).reply_to("YES")
    with svc.db.session() as session:
        calls = dict(session.execute(select_(OutboundMessage.member_id, OutboundMessage.id).where(
            OutboundMessage.channel == "voice")).all())
    sender.send([calls[ana]])
    assert placed(calls_api) == [] and row(svc, OutboundMessage, calls[ana]).status == "cancelled"
    with svc.db.session() as session:
        session.execute(update(OutboundMessage).where(OutboundMessage.id == calls[bo]).values(
            status=DeliveryStatus.SENDING.value, claimed_at=NOW - timedelta(hours=1)))  # a dead worker's claim
        found = session.get(Incident, incident.id)
        incident_responses.close_incident(svc, session, found, IncidentStatus.RESOLVED, NOW, actor="test")
    provider_called(calls_api)
    sender.send([calls[bo]])
    assert placed(calls_api) == [] and row(svc, OutboundMessage, calls[bo]).status == "cancelled"


def test_calls_keep_their_limit_even_when_each_reaches_the_provider_late(sender):
    """Alert calls are spaced with room for lateness: even if every call reached the provider
    70 ms off its slot (one late, the next early), no 1-s window there holds more than
    CALLS_PER_SECOND calls."""
    limit = sender.svc.settings.calls_per_second
    slots = [sender.call_limiter.reserve()[1] for _ in range(6)]
    arrivals = sorted(slot + (0.07 if i % 2 == 0 else -0.07) for i, slot in enumerate(slots))
    busiest = max(sum(1 for t in arrivals[i:] if t - start < 1.0) for i, start in enumerate(arrivals))
    assert busiest <= limit
