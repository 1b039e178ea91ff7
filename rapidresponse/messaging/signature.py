"""Twilio webhook signatures, checked with twilio's own RequestValidator.

The URL is rebuilt from PUBLIC_BASE_URL (the address Twilio calls), not from the request, so a
check behind a proxy or load balancer still matches. During a token rotation both the current
and the previous token are accepted.
"""

from __future__ import annotations

from collections.abc import Mapping

from twilio.request_validator import RequestValidator

from rapidresponse.settings import Settings


def public_url(settings: Settings, path: str, query_string: str) -> str:
    return settings.public_base_url + path + (f"?{query_string}" if query_string else "")


def is_signed(settings: Settings, url: str, params: Mapping[str, str], signature: str | None) -> bool:
    if not signature:
        return False
    tokens = [t for t in (settings.twilio_auth_token, settings.twilio_auth_token_previous) if t]
    return any(RequestValidator(str(token)).validate(url, dict(params), signature) for token in tokens)
