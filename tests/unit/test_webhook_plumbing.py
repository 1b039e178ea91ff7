"""The web's per-request signature check and TwiML answer, made cheaper, still decide and say as before."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from rapidresponse.messaging.signature import is_signed
from rapidresponse.webhooks.routes import message_twiml

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



@pytest.mark.parametrize(("reply", "action"), [
    ("Reply 1 & <2> \"now\" 'ok' ñ 🚨 ]]>", "https://rr.example.org/twilio/status?m=7&x=<y>"),
    ("HELP: text YES to join", None),
    (None, None),
])
def test_a_texts_twiml_answer_is_the_document_twilios_builder_writes(reply: str | None, action: str | None) -> None:
    """The reply (any characters, escaped) and its action URL reach Twilio exactly as twilio's
    MessagingResponse would write them; no reply is an empty <Response />."""
    expected = MessagingResponse()
    if reply is not None:
        expected.message(reply, action=action)
    answer = message_twiml(reply, action)
    assert answer.get_data(as_text=True) == str(expected)
    assert answer.mimetype == "application/xml"
