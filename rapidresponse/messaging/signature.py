"""Twilio webhook signatures, checked with twilio's own RequestValidator.

The URL is rebuilt from PUBLIC_BASE_URL (the address Twilio calls), not from the request, so a
check behind a proxy or load balancer still matches. During a token rotation both the current
and the previous token are accepted.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

from twilio.request_validator import RequestValidator, compare

from rapidresponse.settings import Settings


def public_urls(settings: Settings, path: str, query_string: str) -> list[str]:
    """The URLs Twilio may have called for this path: status callbacks go to STATUS_CALLBACK_BASE_URL
    when it is set (texts sent before it was set still call PUBLIC_BASE_URL)."""
    query = f"?{query_string}" if query_string else ""
    bases = [settings.public_base_url]
    if path.endswith("/status") and settings.status_base_url != settings.public_base_url:
        bases.insert(0, settings.status_base_url)
    return [base + path + query for base in bases]


def is_signed(settings: Settings, url: str, params: Mapping[str, str], signature: str | None) -> bool:
    if not signature:
        return False
    tokens = [t for t in (settings.twilio_auth_token, settings.twilio_auth_token_previous) if t]
    values = _Params(params)
    return any(_signed_with(_validator(str(token)), url, values, signature) for token in tokens)


class _Params(dict[str, str]):
    """The form as twilio's validator reads it with the least work: it asks for `getall` (WebOb),
    then `getlist` (Django), then indexes, raising and catching an AttributeError for each missing
    method, for each parameter: twelve exceptions per text for a plain dict."""

    def getall(self, name: str) -> list[str]:
        return [self[name]]


@lru_cache(maxsize=8)
def _validator(token: str) -> RequestValidator:
    return RequestValidator(token)


def _signed_with(validator: RequestValidator, url: str, params: dict[str, str], signature: str) -> bool:
    """The URL exactly as we rebuilt it first: one HMAC, where `validate` always computes two (with
    and without the port); it still decides whenever that one does not match."""
    if compare(validator.compute_signature(url, params), signature):
        return True
    return bool(validator.validate(url, params, signature))
