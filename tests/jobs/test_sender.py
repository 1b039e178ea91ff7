"""Sending recorded texts through Twilio: exactly once, retried only when safe, and never to someone who
opted out, to a dead number, or after the alert has gone stale."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import pytest
import responses
from sqlalchemy import select, update

from rapidresponse.incidents import service as incidents
from rapidresponse.incidents.models import ThreadEvent
from rapidresponse.members.models import Member, MemberStatus
from rapidresponse.messaging import outbox
from rapidresponse.messaging.models import DeliveryStatus, OutboundMessage, Purpose
from rapidresponse.messaging.sender import Sender
from tests.conftest import ACCOUNT_SID, FROM_NUMBER, PUBLIC_BASE_URL, TWILIO_MESSAGES, add_member, row
from tests.e2e.harness import wait_until

NOW = datetime(2025, 3, 4, 9, 30, tzinfo=UTC)
RESPONDER = "+12125550160"
OTHER = "+12125550161"
BODY = "RAPID RESPONSE: ICE reported at 5th & Main. Reply YES if you can go."


# --- helpers ---------------------------------------------------------------------------------------

def intent(svc, to: str = RESPONDER, *, member_id: int | None = None, purpose: Purpose = Purpose.ALERT,
           valid_until: datetime | None = NOW + timedelta(minutes=15), body: str = BODY,
           created: datetime = NOW) -> int:
    """Record one send intent the way the services do; returns its id."""
    with svc.db.session() as session:
        ids = outbox.record(session, svc.cipher, [outbox.Text(
            to=to, body=body, purpose=purpose, dedupe_key=f"test:{uuid.uuid4().hex}", member_id=member_id,
            valid_until=valid_until,
        )], created)
    assert len(ids) == 1
    return ids[0]


def message(svc, message_id: int) -> OutboundMessage:
    return row(svc, OutboundMessage, message_id)


def member_row(svc, member_id: int) -> Member:
    return row(svc, Member, member_id)


def posts(api: responses.RequestsMock) -> list[dict[str, str]]:
    """The Messages.json creates Twilio received, as forms."""
    return [{k: v[0] for k, v in parse_qs(call.request.body or "").items()}
            for call in api.calls if call.request.method == "POST" and "Messages.json" in call.request.url]


def lists(api: responses.RequestsMock) -> int:
    return sum(1 for call in api.calls if call.request.method == "GET")


def twilio_error(code: int, status: int) -> tuple[int, dict[str, str], str]:
    return status, {}, json.dumps({"code": code, "message": f"Error {code}", "status": status,
                                   "more_info": f"https://www.twilio.com/docs/errors/{code}"})


def created(request: Any) -> tuple[int, dict[str, str], str]:
    form = {k: v[0] for k, v in parse_qs(request.body or "").items()}
    return 201, {}, json.dumps({"sid": "SM" + uuid.uuid4().hex, "status": "queued", "to": form.get("To"),
                                "body": form.get("Body"), "account_sid": ACCOUNT_SID})


def script(api: responses.RequestsMock, *answers: tuple[int, dict[str, str], str]) -> None:
    """Twilio answers the next creates with `answers`, in order, then accepts every text."""
    pending = list(answers)
    lock = threading.Lock()

    def answer(request: Any) -> tuple[int, dict[str, str], str]:
        with lock:
            if pending:
                return pending.pop(0)
        return created(request)

    api.replace(responses.CallbackResponse(responses.POST, TWILIO_MESSAGES, callback=answer))


def provider_has(api: responses.RequestsMock, *bodies: str) -> None:
    """Twilio's list of messages to the number holds texts with these bodies."""
    api.add(responses.GET, TWILIO_MESSAGES, json={
        "messages": [{"sid": f"SMfound{i}", "body": body, "to": RESPONDER, "from": FROM_NUMBER,
                      "status": "delivered", "account_sid": ACCOUNT_SID,
                      "date_created": "Tue, 04 Mar 2025 09:20:01 +0000"} for i, body in enumerate(bodies)],
        "next_page_uri": None, "page": 0, "page_size": 50, "start": 0, "end": len(bodies) - 1,
        "uri": "/2010-04-01/Accounts/x/Messages.json", "first_page_uri": None, "previous_page_uri": None,
    })


@pytest.fixture
def sender(svc):
    sender = Sender(svc, clock=lambda: NOW)
    yield sender
    sender.close()


@pytest.fixture
def responder(svc) -> int:
    return add_member(svc, RESPONDER, roles="responder", trees={"ice": 2})


# --- sending ---------------------------------------------------------------------------------------

def test_sent_text_records_the_twilio_sid(svc, twilio_api, sender, responder):
    """A sent alert is recorded as queued with Twilio's SID; it asks for status callbacks and a validity."""
    message_id = intent(svc, member_id=responder)
    outcome = sender.send([message_id])
    assert (outcome.sent, outcome.failed, outcome.retry) == (1, 0, [])
    [form] = posts(twilio_api)
    assert form["To"] == RESPONDER and form["From"] == FROM_NUMBER and form["Body"] == BODY
    assert form["StatusCallback"] == f"{PUBLIC_BASE_URL}/twilio/status?m={message_id}"
    assert form["ValidityPeriod"] == "900"
    sid = twilio_api.calls[0].response.json()["sid"]
    sent = message(svc, message_id)
    assert (sent.status, sent.provider_sid, sent.attempts) == (DeliveryStatus.QUEUED.value, sid, 1)
    assert sent.sent_at == NOW


def test_text_without_validity_is_sent_without_one(svc, twilio_api, sender, responder):
    """A text with no deadline (a reply) is sent without a ValidityPeriod."""
    sender.send([intent(svc, member_id=responder, purpose=Purpose.REPLY, valid_until=None)])
    [form] = posts(twilio_api)
    assert "ValidityPeriod" not in form


def test_sending_twice_calls_twilio_once(svc, twilio_api, sender, responder):
    """A send job run twice (a retried job) texts each person exactly once."""
    ids = [intent(svc, member_id=responder), intent(svc, OTHER)]
    assert sender.send(ids).sent == 2
    again = sender.send(ids)
    assert (again.sent, again.failed, again.retry) == (0, 0, [])
    assert sorted(form["To"] for form in posts(twilio_api)) == [RESPONDER, OTHER]


def test_two_workers_sending_the_same_texts_send_each_once(svc, twilio_api):
    """Two workers handed the same texts at the same moment still text each person exactly once."""
    ids = [intent(svc, f"+121255501{70 + i}") for i in range(10)]
    senders = [Sender(svc, clock=lambda: NOW) for _ in range(2)]
    start = threading.Barrier(2)
    totals: list[int] = []

    def work(sender: Sender) -> None:
        start.wait()
        totals.append(sender.send(ids).sent)

    threads = [threading.Thread(target=work, args=(s,)) for s in senders]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    finally:
        for s in senders:
            s.close()
    assert sum(totals) == 10
    assert sorted(form["To"] for form in posts(twilio_api)) == [f"+121255501{70 + i}" for i in range(10)]


def test_sent_alert_is_a_line_in_its_incident_thread(svc, twilio_api, sender, responder):
    """Each alert that goes out shows in the incident's thread, with the number masked."""
    with svc.db.session() as session:
        incident = incidents.open_incident(session, svc.cipher, svc.trees.get("ice"), text="ICE at 5th",
                                           reporter_phone="+12125550199", reporter=None, inbound_id=None,
                                           now=NOW)
        incident_id = incident.id
        [message_id] = outbox.record(session, svc.cipher, [outbox.Text(
            to=RESPONDER, body=BODY, purpose=Purpose.ALERT, dedupe_key="alert:t", member_id=responder,
            incident_id=incident_id, layer=2)], NOW)
    sender.send([message_id])
    sender.send([message_id])
    with svc.db.session() as session:
        events = session.scalars(select(ThreadEvent).where(ThreadEvent.incident_id == incident_id,
                                                           ThreadEvent.kind == "alert_sent")).all()
        assert len(events) == 1
        assert RESPONDER not in events[0].actor and events[0].detail["layer"] == 2


# --- temporary failures ----------------------------------------------------------------------------

@pytest.mark.parametrize("failure", [twilio_error(20429, 429), twilio_error(20500, 500),
                                     (503, {}, "Service Unavailable")],
                         ids=["429", "500", "503_not_json"])
def test_temporary_failure_is_retried_and_sent_once(svc, twilio_api, sender, responder, failure):
    """A 429 or 5xx leaves the text pending for a retry; the retry sends it, once."""
    script(twilio_api, failure)
    message_id = intent(svc, member_id=responder)
    first = sender.send([message_id])
    assert first.retry == [message_id] and first.sent == 0 and first.failed == 0
    assert message(svc, message_id).status == DeliveryStatus.PENDING.value
    assert member_row(svc, responder).status == MemberStatus.ACTIVE.value
    second = sender.send([message_id])
    assert second.sent == 1 and second.retry == []
    retried = message(svc, message_id)
    assert retried.status == DeliveryStatus.QUEUED.value and retried.provider_sid
    assert retried.attempts == 2
    assert len(posts(twilio_api)) == 2


# --- permanent failures ----------------------------------------------------------------------------

def test_twilio_opt_out_opts_the_member_out(svc, twilio_api, sender, responder):
    """21610 (they texted STOP to Twilio) fails the text and opts the member out: no more alerts to them."""
    script(twilio_api, twilio_error(21610, 400))
    message_id = intent(svc, member_id=responder)
    outcome = sender.send([message_id])
    assert (outcome.failed, outcome.retry) == (1, [])
    failed = message(svc, message_id)
    assert (failed.status, failed.error_code) == (DeliveryStatus.FAILED.value, 21610)
    member = member_row(svc, responder)
    assert member.status == MemberStatus.OPTED_OUT.value and member.opted_out_at == NOW
    assert sender.send([message_id]).sent == 0
    later = intent(svc, member_id=responder)
    assert sender.send([later]).cancelled == 1
    assert len(posts(twilio_api)) == 1


@pytest.mark.parametrize("code", [21211, 21614], ids=["invalid_number", "not_mobile"])
def test_dead_number_is_marked_and_never_retried(svc, twilio_api, sender, responder, code):
    """An invalid or non-mobile number fails for good: the member is marked and never texted again."""
    script(twilio_api, twilio_error(code, 400))
    message_id = intent(svc, member_id=responder)
    outcome = sender.send([message_id])
    assert (outcome.failed, outcome.retry) == (1, [])
    failed = message(svc, message_id)
    assert (failed.status, failed.error_code) == (DeliveryStatus.FAILED.value, code)
    member = member_row(svc, responder)
    assert (member.undeliverable_code, member.status) == (code, MemberStatus.ACTIVE.value)
    assert sender.send([message_id]).sent == 0
    later = intent(svc, member_id=responder)
    assert sender.send([later]).cancelled == 1
    assert len(posts(twilio_api)) == 1


def test_permanent_failure_of_one_text_does_not_stop_the_others(svc, twilio_api, sender, responder):
    """One dead number in a batch fails alone; everyone else in the batch still gets the alert."""
    script(twilio_api, twilio_error(21211, 400))
    ids = [intent(svc, member_id=responder)] + [intent(svc, f"+121255501{80 + i}") for i in range(4)]
    outcome = sender.send(ids)
    assert (outcome.sent, outcome.failed) == (4, 1)


# --- texts that must not go ------------------------------------------------------------------------

@pytest.mark.parametrize("left", [timedelta(minutes=-5), timedelta(0), timedelta(milliseconds=500)],
                         ids=["long_gone", "exactly_now", "under_a_second"])
def test_stale_alert_is_expired_not_sent(svc, twilio_api, sender, responder, left):
    """An alert whose validity has run out is marked expired and never reaches Twilio."""
    message_id = intent(svc, member_id=responder, valid_until=NOW + left)
    outcome = sender.send([message_id])
    assert (outcome.expired, outcome.sent) == (1, 0)
    assert message(svc, message_id).status == DeliveryStatus.EXPIRED.value
    assert posts(twilio_api) == []


def test_opted_out_members_alert_is_cancelled(svc, twilio_api, sender):
    """An alert recorded for someone who has since opted out is cancelled and never sent."""
    member_id = add_member(svc, RESPONDER, trees={"ice": 2}, status=MemberStatus.OPTED_OUT)
    message_id = intent(svc, member_id=member_id)
    outcome = sender.send([message_id])
    assert (outcome.cancelled, outcome.sent) == (1, 0)
    assert message(svc, message_id).status == DeliveryStatus.CANCELLED.value
    assert posts(twilio_api) == []


def test_opt_out_confirmation_still_reaches_the_member(svc, twilio_api, sender):
    """The reply confirming a STOP is the one text an opted-out member still gets."""
    member_id = add_member(svc, RESPONDER, status=MemberStatus.OPTED_OUT)
    assert sender.send([intent(svc, member_id=member_id, purpose=Purpose.REPLY, valid_until=None)]).sent == 1
    assert len(posts(twilio_api)) == 1


# --- a worker that died mid-send -------------------------------------------------------------------

def abandoned(svc, claimed: datetime, *, member_id: int | None = None) -> int:
    """A text claimed by a worker at `claimed` that never recorded the outcome."""
    message_id = intent(svc, member_id=member_id, created=claimed, valid_until=claimed + timedelta(hours=1))
    with svc.db.session() as session:
        session.execute(update(OutboundMessage).where(OutboundMessage.id == message_id).values(
            status=DeliveryStatus.SENDING.value, claimed_at=claimed, attempts=1))
    return message_id


def test_abandoned_claim_already_sent_is_recorded_not_resent(svc, twilio_api, sender, responder):
    """If the dead worker's text reached Twilio, its SID is recorded and nothing is sent again."""
    message_id = abandoned(svc, NOW - timedelta(minutes=10), member_id=responder)
    provider_has(twilio_api, "something else", BODY)
    outcome = sender.send([message_id])
    assert (outcome.reconciled, outcome.sent) == (1, 0)
    assert posts(twilio_api) == [] and lists(twilio_api) == 1
    found = message(svc, message_id)
    assert (found.status, found.provider_sid) == (DeliveryStatus.QUEUED.value, "SMfound1")


@pytest.mark.parametrize("bodies", [(), ("a different text",)], ids=["nothing", "other_text"])
def test_abandoned_claim_never_sent_is_sent_once(svc, twilio_api, sender, responder, bodies):
    """If Twilio has no such text, the dead worker's text is sent, once."""
    message_id = abandoned(svc, NOW - timedelta(minutes=10), member_id=responder)
    provider_has(twilio_api, *bodies)
    outcome = sender.send([message_id])
    assert (outcome.reconciled, outcome.sent) == (0, 1)
    assert len(posts(twilio_api)) == 1
    sender.send([message_id])
    assert len(posts(twilio_api)) == 1
    assert message(svc, message_id).status == DeliveryStatus.QUEUED.value


def test_claim_within_the_lease_is_left_to_its_worker(svc, twilio_api, sender, responder):
    """A text another live worker is sending right now is neither looked up nor sent again."""
    message_id = abandoned(svc, NOW - timedelta(seconds=30), member_id=responder)
    outcome = sender.send([message_id])
    assert (outcome.sent, outcome.reconciled) == (0, 0)
    assert len(twilio_api.calls) == 0
    assert message(svc, message_id).status == DeliveryStatus.SENDING.value


def test_failed_lookup_of_an_abandoned_claim_does_not_hold_up_fresh_alerts(svc, twilio_api, sender,
                                                                           responder):
    """When Twilio cannot list past texts, fresh alerts in the same batch still go out."""
    stale = abandoned(svc, NOW - timedelta(minutes=10), member_id=responder)
    twilio_api.add(responses.GET, TWILIO_MESSAGES, status=503, body="Service Unavailable")
    fresh = intent(svc, OTHER)
    outcome = sender.send([stale, fresh])
    assert outcome.sent == 1
    assert [form["To"] for form in posts(twilio_api)] == [OTHER]
    assert message(svc, stale).status == DeliveryStatus.SENDING.value


def test_bulk_batch_gives_way_between_chunks_and_leaves_the_rest_unclaimed(svc, twilio_api, sender):
    """When urgent work is waiting, a bulk batch stops after its current chunk; the rest stays pending."""
    numbers = [f"+1212555{n:04d}" for n in range(3000, 3000 + sender.chunk * 3)]
    ids = [intent(svc, number) for number in numbers]
    asked: list[bool] = []

    def urgent_waiting() -> bool:
        asked.append(True)
        return True

    outcome = sender.send(ids, give_way=urgent_waiting)
    assert outcome.sent == sender.chunk
    assert outcome.deferred == ids[sender.chunk:]
    assert {message(svc, i).status for i in outcome.deferred} == {DeliveryStatus.PENDING.value}
    assert len(asked) == 1  # asked once, before claiming the second chunk
    assert len(posts(twilio_api)) == sender.chunk


def test_twilio_retry_after_is_waited_for(svc, twilio_api, sender, responder):
    """A 429 that says Retry-After: 40 is not tried again sooner, by the timer or by the sweep."""
    status, headers, body = twilio_error(20429, 429)
    script(twilio_api, (status, {"Retry-After": "40"}, body))
    message_id = intent(svc, member_id=responder)
    outcome = sender.send([message_id])
    assert outcome.retry == [message_id]
    assert outcome.retry_at is not None and outcome.retry_at >= NOW + timedelta(seconds=40)
    assert message(svc, message_id).requeued_at == outcome.retry_at


def test_refusals_back_off_longer_each_time(svc, twilio_api, sender, responder):
    """Each further refusal of the same text waits longer before the next try (up to a cap)."""
    script(twilio_api, *[twilio_error(20429, 429)] * 4)
    message_id = intent(svc, member_id=responder)
    waits = [(sender.send([message_id]).retry_at - NOW).total_seconds() for _ in range(4)]  # type: ignore[operator]
    assert waits[0] <= 2 and 2 <= waits[1] <= 4 and 4 <= waits[2] <= 8 and 8 <= waits[3] <= 16


def test_refused_alert_that_cannot_be_retried_in_time_is_expired(svc, twilio_api, sender, responder):
    """An alert refused with Retry-After beyond its validity is dropped, not sent late."""
    status, headers, body = twilio_error(20429, 429)
    script(twilio_api, (status, {"Retry-After": "120"}, body))
    message_id = intent(svc, member_id=responder, valid_until=NOW + timedelta(seconds=60))
    outcome = sender.send([message_id])
    assert (outcome.retry, outcome.expired) == ([], 1)
    assert message(svc, message_id).status == DeliveryStatus.EXPIRED.value


# --- a slow call holds one thread, not a batch -----------------------------------------------------

@pytest.fixture
def small_pool(tmp_path, database_url):
    """Services whose sender has 4 threads (chunks of 8), with the shipped send and lookup timeouts."""
    from rapidresponse.settings import Settings
    from tests import conftest

    env = conftest.test_env(tmp_path, database_url, SEND_CONCURRENCY="4")
    with conftest.fresh_services(Settings.from_env(env)) as services:
        yield services


def test_a_few_hanging_calls_do_not_hold_up_the_rest_of_the_batch(small_pool, twilio_api):
    """While 2 calls hang, the other 38 texts of the batch are sent and recorded, and the job is free
    for other work; the 2 are recorded when their calls end."""
    svc = small_pool
    numbers = [f"+1212555{n:04d}" for n in range(5000, 5040)]
    hanging = set(numbers[:2])
    release = threading.Event()

    def answer(request: Any) -> tuple[int, dict[str, str], str]:
        if parse_qs(request.body or "")["To"][0] in hanging:
            release.wait(90)
        return created(request)

    twilio_api.replace(responses.CallbackResponse(responses.POST, TWILIO_MESSAGES, callback=answer))
    ids = [intent(svc, number) for number in numbers]
    sender = Sender(svc, clock=lambda: NOW, stragglers_after=1.0)  # the workers' own value
    outcomes: list[Any] = []
    worker = threading.Thread(target=lambda: outcomes.append(sender.send(ids)))
    try:
        worker.start()
        wait_until(lambda: queued(svc, ids) == 38)
        assert {message(svc, i).status for i in ids[:2]} == {DeliveryStatus.SENDING.value}
        worker.join(90)  # the job ends while the 2 calls still hang
        assert (outcomes[0].sent, outcomes[0].handed_off) == (38, 2)
    finally:
        release.set()
        worker.join(90)
        sender.close()  # waits for the 2 calls, which record themselves
    assert queued(svc, ids) == 40


def queued(svc, ids: list[int]) -> int:
    with svc.db.session() as session:
        return len(session.scalars(select(OutboundMessage.id).where(
            OutboundMessage.id.in_(ids), OutboundMessage.status == DeliveryStatus.QUEUED.value)).all())


def test_send_call_gives_up_sooner_than_the_lookup_of_past_texts(svc, twilio_api, sender, responder):
    """A send call times out after SEND_TIMEOUT_SECONDS; a lookup before a resend after LOOKUP_TIMEOUT_SECONDS."""
    stale = abandoned(svc, NOW - timedelta(minutes=10), member_id=responder)
    provider_has(twilio_api)
    sender.send([stale, intent(svc, OTHER)])
    timeouts = {call.request.method: call.request.req_kwargs["timeout"] for call in twilio_api.calls}
    assert timeouts == {"GET": svc.settings.lookup_timeout_seconds, "POST": svc.settings.send_timeout_seconds}
    assert svc.settings.send_timeout_seconds < svc.settings.lookup_timeout_seconds
