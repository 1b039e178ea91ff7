"""The Twilio adapter's outbound HTTP: an operator's proxy and CA bundle still apply, read once."""

from __future__ import annotations

import pytest

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
