"""The web's per-request signature check, made cheaper, still decides as before."""

from __future__ import annotations

from types import SimpleNamespace

from twilio.request_validator import RequestValidator

from rapidresponse.messaging.signature import is_signed

TOKEN = "plumbing-token-0123456789abcdef01"
PARAMS = {"MessageSid": "SM" + "a" * 32, "MessageStatus": "sent", "AccountSid": "AC" + "c" * 32}


def settings(previous: str | None = None) -> SimpleNamespace:
    return SimpleNamespace(twilio_auth_token=TOKEN, twilio_auth_token_previous=previous)


def test_signature_over_the_url_as_rebuilt_passes() -> None:
    """A signature over the exact URL we rebuilt is accepted, a forged or tampered one is not."""
    url = "https://rr.example.org/twilio/status?m=7"
    signed = RequestValidator(TOKEN).compute_signature(url, PARAMS)
    assert is_signed(settings(), url, PARAMS, signed)
    assert not is_signed(settings(), url, {**PARAMS, "MessageStatus": "delivered"}, signed)
    assert not is_signed(settings(), url, PARAMS, RequestValidator("x" * 32).compute_signature(url, PARAMS))
    assert not is_signed(settings(), url, PARAMS, None)


def test_signature_with_the_default_port_and_the_previous_token_still_pass() -> None:
    """Twilio's own rules still decide when the first check fails: the URL with :443 added, and a
    request signed with the previous token during a rotation."""
    url = "https://rr.example.org/twilio/status?m=7"
    with_port = RequestValidator(TOKEN).compute_signature("https://rr.example.org:443/twilio/status?m=7", PARAMS)
    assert is_signed(settings(), url, PARAMS, with_port)
    old = RequestValidator("old-token-0123456789abcdef012345").compute_signature(url, PARAMS)
    assert is_signed(settings("old-token-0123456789abcdef012345"), url, PARAMS, old)
    assert not is_signed(settings(), url, PARAMS, old)

