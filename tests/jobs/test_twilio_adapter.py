"""The Twilio adapter's outbound HTTP: an operator's proxy and CA bundle still apply, read once;
a text is posted at most once; requests reach Twilio encoded as the SDK's own client sends them."""

from __future__ import annotations

import json
import socket
import threading
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from rapidresponse.messaging.provider import ProviderError
from rapidresponse.messaging.twilio_provider import ApiHttpClient, TwilioProvider
from rapidresponse.settings import Settings


@pytest.mark.parametrize("proxy", ["http://proxy.example:3128", ""])
def test_texts_go_through_the_proxy_the_environment_names(monkeypatch, settings: Settings, twilio_api, proxy):
    """Behind an outbound proxy (HTTPS_PROXY) every text goes through it, with the CA bundle the
    environment names; without one, texts go straight to Twilio."""
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    if proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    provider = TwilioProvider(settings)
    for _ in range(2):
        provider.send_sms("+12125550101", "hello", status_callback=None, validity_period=None)
    assert len(twilio_api.calls) == 2
    for call in twilio_api.calls:
        kwargs = call.request.req_kwargs
        assert kwargs["proxies"].get("https", "") == proxy
        assert kwargs["verify"] == "/etc/ssl/certs/ca-certificates.crt"


def test_a_text_whose_answer_never_comes_is_sent_once_and_its_fate_unknown(env):
    """Twilio's connection drops after the text reached it and before it answered: the adapter
    does not post the text again by itself (only the sender's reconcile may decide), and it says
    the outcome is unknown rather than failed."""
    received: list[bytes] = []
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(10)

        def take_and_hang_up() -> None:
            conn, _ = server.accept()
            with conn:
                received.append(read_request(conn))

        listener = threading.Thread(target=take_and_hang_up, daemon=True)
        listener.start()
        port = server.getsockname()[1]
        provider = TwilioProvider(Settings.from_env({**env, "TWILIO_API_BASE_URL": f"http://127.0.0.1:{port}"}))
        with pytest.raises(ProviderError) as refused:
            provider.send_sms("+12125550101", "hello", status_callback=None, validity_period=None)
        listener.join(timeout=10)
        server.setblocking(False)
        with pytest.raises(BlockingIOError):  # no second connection waits: the text was not posted again
            server.accept()
    assert refused.value.ambiguous
    assert len(received) == 1
    assert received[0].startswith(b"POST /2010-04-01/Accounts/") and b"Body=hello" in received[0]


def read_request(conn: socket.socket) -> bytes:
    """One HTTP request off a socket: its head, and as much body as its Content-Length says."""
    data = b""
    while b"\r\n\r\n" not in data and (chunk := conn.recv(65536)):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    while len(body) < length and (chunk := conn.recv(65536)):
        body += chunk
    return head + b"\r\n\r\n" + body


def test_the_adapter_encodes_what_the_sdk_hands_it_as_requests_would():
    """The SDK's request as Twilio receives it: a next page's query kept beside new params, a list
    as repeated fields, an unset field left out, a Spanish text with an emoji intact in UTF-8, a
    JSON API's body as JSON, and the account's credentials as Basic auth."""
    client = ApiHttpClient("http://127.0.0.1:9", timeout=5)
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, "http://127.0.0.1:9/2010-04-01/Calls.json", json={"calls": []})
        mock.add(responses.POST, "http://127.0.0.1:9/2010-04-01/Messages.json", json={"sid": "SM1"}, status=201)
        mock.add(responses.POST, "http://127.0.0.1:9/v1/Things", json={}, status=201)
        listed = client.request("GET", "https://api.twilio.com/2010-04-01/Calls.json?Page=2&PageToken=PA1",
                                params={"To": "+12125550101"}, auth=("AC1", "secret"))
        sent = client.request("POST", "https://api.twilio.com/2010-04-01/Messages.json",
                              data={"Body": "¿Dónde? 🚨", "MediaUrl": ["a", "b"], "ValidityPeriod": None})
        client.request("POST", "https://api.twilio.com/v1/Things", data={"name": "ñ"},
                       headers={"Content-Type": "application/json"})
        get, post, post_json = (call.request for call in mock.calls)
    assert listed.status_code == 200 and json.loads(listed.text) == {"calls": []}
    assert sent.status_code == 201 and json.loads(sent.text)["sid"] == "SM1"
    assert parse_qs(urlsplit(get.url).query) == {"Page": ["2"], "PageToken": ["PA1"], "To": ["+12125550101"]}
    assert get.headers["Authorization"] == "Basic QUMxOnNlY3JldA=="
    form = parse_qs(post.body)
    assert form == {"Body": ["¿Dónde? 🚨"], "MediaUrl": ["a", "b"]}
    assert post.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert int(post.headers["Content-Length"]) == len(post.body.encode())
    assert json.loads(post_json.body) == {"name": "ñ"}
    client.close()
