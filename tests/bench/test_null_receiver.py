"""The do-nothing receiver behind `bench.callback_pace --receiver null`: it must answer every
webhook the fake sends (else the upper bound it gives would count failures as speed)."""

from __future__ import annotations

import socket
import urllib.request

import pytest

from bench.fake_twilio import FakeTwilio
from bench.stack import serving


@pytest.fixture
def receiver():
    proc, url = serving("bench.null_receiver")
    yield url
    proc.terminate()
    proc.wait(timeout=10)
    assert proc.stdout is not None
    proc.stdout.close()


def count(url: str) -> int:
    with urllib.request.urlopen(url + "/count", timeout=5) as answer:  # noqa: S310 - loopback
        return int(answer.read())


def test_every_signed_callback_is_answered_204_and_counted(receiver):
    with FakeTwilio() as fake:
        statuses = [fake.post_signed(f"{receiver}/twilio/status?m={i}",
                                     {"MessageSid": f"SM{i:032d}", "MessageStatus": "delivered"})
                    for i in range(5)]
    assert statuses == [204] * 5
    assert count(receiver) == 5


def test_a_request_whose_body_comes_later_is_answered_once_it_has_all_come(receiver):
    host, port = receiver.removeprefix("http://").split(":")
    body = b"MessageSid=SM1&MessageStatus=sent"
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        conn.sendall(b"POST /twilio/status HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body))
        conn.sendall(body[:5])
        conn.settimeout(0.3)
        with pytest.raises(TimeoutError):
            conn.recv(100)  # half a body: no answer yet
        conn.settimeout(5)
        conn.sendall(body[5:])
        assert conn.recv(100).startswith(b"HTTP/1.1 204")
    assert count(receiver) == 1
