"""The Twilio adapter's outbound HTTP: an operator's proxy and CA bundle still apply, read once."""

from __future__ import annotations

import socket
import threading

import pytest

from rapidresponse.messaging.provider import ProviderError
from rapidresponse.messaging.twilio_provider import TwilioProvider
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
