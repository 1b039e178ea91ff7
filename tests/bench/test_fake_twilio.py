"""Tests for the loopback fake Twilio server (bench/fake_twilio.py)."""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from bench.fake_twilio import (
    FakeTwilio,
    RedirectingHttpClient,
    max_in_window,
    per_second,
    segments,
    twilio_client,
)

FROM = "+15559990000"


@pytest.fixture
def fake():
    with FakeTwilio() as f:
        yield f


@pytest.fixture
def client(fake):
    c = twilio_client(fake)
    yield c
    c.http_client.close()


class _Receiver:
    """A tiny webhook receiver recording (path, headers, form) of each POST."""

    def __init__(self):
        self.received: list[tuple[str, dict, dict]] = []
        self.lock = threading.Lock()
        outer = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_POST(self):  # noqa: N802
                n = int(self.headers.get("Content-Length") or 0)
                form = dict(urllib.parse.parse_qsl(self.rfile.read(n).decode(), keep_blank_values=True))
                with outer.lock:
                    outer.received.append((self.path, dict(self.headers), form))
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def receiver():
    r = _Receiver()
    yield r
    r.close()


def _admin(fake, method, path, payload=None):
    data = json.dumps(payload).encode() if payload is not None else (b"" if method == "POST" else None)
    req = urllib.request.Request(fake.url + path, data=data, method=method)
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read())


def test_create_fetch_and_list_with_real_client(fake, client):
    """The real twilio Client creates, fetches and lists messages against the fake."""
    m = client.messages.create(
        to="+15550001234",
        from_=FROM,
        body="hello",
        validity_period=600,
        status_callback="http://127.0.0.1:9/status",
    )
    assert m.sid.startswith("SM") and len(m.sid) == 34
    assert m.status == "queued" and m.to == "+15550001234" and m.from_ == FROM
    assert m.num_segments == "1" and m.direction == "outbound-api" and m.date_created is not None
    client.messages.create(to="+15550005678", messaging_service_sid="MG" + "0" * 32, body="other")
    rec = fake.sent_to("+15550001234")[0]
    assert rec["sid"] == m.sid and rec["validity_period"] == 600 and rec["body"] == "hello"
    assert rec["status_callback"] == "http://127.0.0.1:9/status" and rec["sent_at"] >= rec["received_at"]
    assert fake.count == 2 and fake.messages[1]["messaging_service_sid"] == "MG" + "0" * 32
    assert client.messages(m.sid).fetch().body == "hello"
    listed = client.messages.list(to="+15550001234", date_sent_after=time.strftime("%Y-%m-%d"))
    assert [x.sid for x in listed] == [m.sid]
    assert client.messages.list(to="+15550001234", date_sent_after="2999-01-01") == []


def test_list_pages_through_next_page_uri(fake, client):
    """Listing more than a page follows next_page_uri and returns every message once, newest first."""
    sids = [client.messages.create(to="+15550001111", from_=FROM, body=f"m{i}").sid for i in range(7)]
    listed = [x.sid for x in client.messages.list(to="+15550001111", page_size=3)]
    assert listed == list(reversed(sids))


def test_auth_failure_is_401(fake):
    """A wrong auth token gets Twilio's 401 error (code 20003) and records nothing."""
    bad = Client(fake.account_sid, "wrong-token", http_client=RedirectingHttpClient(fake.url))
    try:
        with pytest.raises(TwilioRestException) as ei:
            bad.messages.create(to="+15550001234", from_=FROM, body="x")
    finally:
        bad.http_client.close()
    assert ei.value.status == 401 and ei.value.code == 20003
    assert fake.count == 0


def test_missing_to_or_body_is_400(fake, client):
    """Missing To or Body yields Twilio's 400 error JSON."""
    with pytest.raises(TwilioRestException) as ei:
        client.messages.create(to="", from_=FROM, body="x")
    assert ei.value.status == 400 and ei.value.code == 21604
    with pytest.raises(TwilioRestException) as ei:
        client.messages.create(to="+15550001234", from_=FROM)
    assert ei.value.status == 400 and ei.value.code == 21602
    assert fake.count == 0


def test_fail_numbers_raise_with_right_code(fake, client):
    """fail_numbers makes creates to those numbers fail with the configured Twilio error code."""
    fake.fail_numbers = {"+15550001111": 21610, "+15550002222": 21211}
    for number, code in (("+15550001111", 21610), ("+15550002222", 21211)):
        with pytest.raises(TwilioRestException) as ei:
            client.messages.create(to=number, from_=FROM, body="x")
        assert ei.value.status == 400 and ei.value.code == code
    assert "unsubscribed" in str(ei.value.msg) or ei.value.code == 21211
    client.messages.create(to="+15550003333", from_=FROM, body="ok")
    assert fake.count == 1


def test_fail_next_429_then_recovers(fake, client):
    """fail_next(n, 429) fails exactly the next n creates with code 20429, recording nothing."""
    fake.fail_next(2, status=429)
    for _ in range(2):
        with pytest.raises(TwilioRestException) as ei:
            client.messages.create(to="+15550001234", from_=FROM, body="x")
        assert ei.value.status == 429 and ei.value.code == 20429
    assert fake.count == 0
    client.messages.create(to="+15550001234", from_=FROM, body="x")
    assert fake.count == 1


def test_latency_applied():
    """Each API request waits `latency` seconds before answering; it can be changed at runtime."""
    waits: list[float] = []
    with FakeTwilio(sleep=waits.append) as fake:
        client = twilio_client(fake)
        fake.latency = 0.15
        client.messages.create(to="+15550001234", from_=FROM, body="x")
        assert waits == [0.15]
        fake.latency = 0.0
        client.messages.create(to="+15550001234", from_=FROM, body="x")
        assert waits == [0.15]
        assert fake.count == 2


def test_every_nth_message_is_accepted_but_answered_late():
    """`hang_every` N: every Nth message is recorded at once but answered `hang_seconds` later."""
    waits: list[float] = []
    with FakeTwilio(sleep=waits.append) as fake:
        client = twilio_client(fake)
        fake.configure(hang_every=2, hang_seconds=15)
        for _ in range(4):
            client.messages.create(to="+15550001234", from_=FROM, body="x")
        assert waits == [15.0, 15.0]
        assert fake.count == 4
        assert fake.config()["hang_every"] == 2


def test_calls_create(fake, client):
    """Calls.json creates a call resource with a CA sid."""
    call = client.calls.create(to="+15550001234", from_=FROM, twiml="<Response><Say>hi</Say></Response>")
    assert call.sid.startswith("CA") and len(call.sid) == 34 and call.status == "queued"
    assert fake.calls[0]["twiml"].startswith("<Response>")


def test_signed_callbacks_verify(receiver):
    """Status callbacks carry X-Twilio-Signature that RequestValidator accepts, in order."""
    with FakeTwilio(callbacks=True) as fake:
        fake.undeliverable_numbers = {"+15550004444": 30003}
        client = twilio_client(fake)
        try:
            ok = client.messages.create(
                to="+15550001234", from_=FROM, body="a", status_callback=receiver.base + "/status?x=1"
            )
            bad = client.messages.create(
                to="+15550004444", from_=FROM, body="b", status_callback=receiver.base + "/status?x=1"
            )
        finally:
            client.http_client.close()
        assert fake.wait_for_callbacks(10)
        assert fake.callback_errors == 0 and fake.callbacks_sent == 6
        assert fake.get_message(ok.sid)["status"] == "delivered"
        assert fake.get_message(bad.sid)["status"] == "undelivered"
    validator = RequestValidator(fake.auth_token)
    by_sid: dict[str, list[str]] = {}
    for path, headers, form in receiver.received:
        url = receiver.base + path
        assert validator.validate(url, form, headers["X-Twilio-Signature"])
        assert not validator.validate(url, {**form, "MessageStatus": "x"}, headers["X-Twilio-Signature"])
        assert form["AccountSid"] == fake.account_sid and form["SmsSid"] == form["MessageSid"]
        by_sid.setdefault(form["MessageSid"], []).append(form["MessageStatus"])
        if form["MessageStatus"] == "undelivered":
            assert form["ErrorCode"] == "30003"
    assert by_sid == {ok.sid: ["queued", "sent", "delivered"], bad.sid: ["queued", "sent", "undelivered"]}


def test_callback_errors_are_counted(fake, client):
    """An unreachable StatusCallback is swallowed and counted in callback_errors."""
    fake.callbacks = True
    fake.callback_timeout = 0.5
    client.messages.create(to="+15550001234", from_=FROM, body="x", status_callback="http://127.0.0.1:9/none")
    assert fake.wait_for_callbacks(10)
    assert fake.callback_errors == 3


def test_admin_interface(fake, client):
    """The /_fake admin endpoints configure, report and reset the fake."""
    _admin(
        fake,
        "POST",
        "/_fake/config",
        {"latency": 0.0, "fail_numbers": {"+15550001111": 21610}, "fail_next": {"n": 1, "status": 500}},
    )
    with pytest.raises(TwilioRestException) as ei:
        client.messages.create(to="+15550001234", from_=FROM, body="x")
    assert ei.value.status == 500
    client.messages.create(to="+15550001234", from_=FROM, body="x")
    msgs = _admin(fake, "GET", "/_fake/messages")
    assert len(msgs) == 1 and msgs[0]["to"] == "+15550001234"
    stats = _admin(fake, "GET", "/_fake/stats")
    assert stats["count"] == 1 and stats["max_in_any_window"] == 1 and stats["per_second_counts"] == [1]
    assert _admin(fake, "POST", "/_fake/reset") == {"ok": True}
    assert fake.count == 0 and fake.fail_numbers == {"+15550001111": 21610}
    _admin(fake, "POST", "/_fake/reset", {"config": True})
    assert fake.fail_numbers == {}


def test_max_in_any_window_on_synthetic_times():
    """max_in_window finds the densest half-open window, not just aligned 1-s buckets."""
    # 3 in [0.6, 1.0) + 3 in [1.0, 1.5): aligned buckets say 3, a sliding window holds 6
    times = [0.0, 0.6, 0.7, 0.9, 1.0, 1.2, 1.5, 3.0]
    assert per_second(times) == [4, 3, 0, 1]
    assert max_in_window(times, 1.0) == 6  # 0.6 .. 1.5 (1.6 excluded: half-open)
    assert max_in_window([0.0, 1.0], 1.0) == 1  # exactly 1 s apart never share a window
    assert max_in_window([0.0, 0.999], 1.0) == 2
    assert max_in_window([], 1.0) == 0 and per_second([]) == []
    assert max_in_window([5, 5, 5], 0.5) == 3
    assert max_in_window(list(reversed(times)), 2.0) == 7


def test_segments():
    """Segment counting follows GSM-7 (160/153) and UCS-2 (70/67) limits."""
    assert segments("a" * 160) == 1 and segments("a" * 161) == 2
    assert segments("ñ" * 160) == 1  # ñ is GSM-7
    assert segments("á" * 70) == 1 and segments("á" * 71) == 2
    assert segments("[" * 80) == 1 and segments("[" * 81) == 2  # extension chars cost two


def test_delete_forgets_a_final_message_and_records_each_attempt(fake, client):
    """DELETE of a delivered message answers 204 and forgets it; a second DELETE is 404; both are recorded."""
    msg = client.messages.create(to="+15550001111", from_=FROM, body="raid alert")
    assert fake.held() == [msg.sid]
    assert client.messages(msg.sid).delete() is True
    assert fake.held() == [] and fake.count == 0
    with pytest.raises(TwilioRestException) as exc:
        client.messages(msg.sid).delete()
    assert exc.value.status == 404
    assert [(d["sid"], d["status"]) for d in fake.deletes] == [(msg.sid, 204), (msg.sid, 404)]


def test_delete_is_refused_with_20009_until_the_message_is_final(fake, client):
    """A message still queued (callbacks pending) cannot be deleted: 20009, as Twilio answers."""
    fake.callbacks = True
    msg = client.messages.create(to="+15550001112", from_=FROM, body="x",
                                 status_callback="http://127.0.0.1:9/none")
    fake.configure(refuse_deletes_next=1)
    with pytest.raises(TwilioRestException) as exc:
        client.messages(msg.sid).delete()
    assert exc.value.code == 20009
    assert msg.sid in fake.held()


def test_inbound_texts_and_twiml_replies_are_held_and_deletable(fake, client):
    """Received texts and TwiML replies are stored apart from API sends, and deleted the same way."""
    inbound = fake.receive("+15550001113", FROM, "ICE at the school")
    reply = fake.reply("+15550001113", FROM, "Your report is recorded")
    assert set(fake.held()) == {inbound, reply} and fake.count == 0
    assert fake.get_message(inbound)["direction"] == "inbound"
    client.messages(inbound).delete()
    client.messages(reply).delete()
    assert fake.held() == []
