"""The web's per-request plumbing made cheaper still decides as before: signatures, access lines."""

from __future__ import annotations

import datetime
from types import SimpleNamespace

from gunicorn.config import Config
from gunicorn.glogging import Logger
from twilio.request_validator import RequestValidator

from rapidresponse.logs import GunicornLogger
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


def test_access_line_is_gunicorns_own() -> None:
    """Our logger writes the same access line as gunicorn's, for our format and for one that names
    headers (which falls back to gunicorn's atoms)."""
    response = SimpleNamespace(status="204 NO CONTENT", sent=0, headers=[("Content-Type", "text/html")])
    request = SimpleNamespace(headers=[("USER-AGENT", "TwilioProxy/1.1")])
    environ = {"REMOTE_ADDR": "127.0.0.1", "REQUEST_METHOD": "POST", "RAW_URI": "/twilio/status?m=1",
               "SERVER_PROTOCOL": "HTTP/1.1", "PATH_INFO": "/twilio/status", "QUERY_STRING": "m=1"}
    took = datetime.timedelta(milliseconds=12, microseconds=345)
    for fmt in ('%(h)s "%(m)s %(U)s %(H)s" %(s)s bytes=%(b)s ms=%(M)s %(L)s %(r)s',
                '%(h)s %(s)s %({user-agent}i)s'):
        config = Config()
        config.set("access_log_format", fmt)
        ours, theirs = GunicornLogger(config), Logger(config)
        assert (fmt % ours.atoms_wrapper_class(ours.atoms(response, request, environ, took))
                == fmt % theirs.atoms_wrapper_class(theirs.atoms(response, request, environ, took)))
