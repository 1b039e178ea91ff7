"""The provider boundary: what the rest of the system may ask of an SMS/voice provider."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

# Twilio error codes the system reacts to (https://www.twilio.com/docs/api/errors).
OPTED_OUT = 21610
INVALID_NUMBER = 21211
NOT_MOBILE = 21614
TEMPORARY_CODES = frozenset({30001, 30008, 20429})
# A delete refused until the provider's own processing of the message is done: try again later.
NOT_DELETABLE_YET = 20009
PERMANENT_MEMBER_CODES = frozenset({OPTED_OUT, INVALID_NUMBER, NOT_MOBILE})


class ProviderError(Exception):
    """A provider refused or failed a request."""

    def __init__(self, message: str, *, code: int | None = None, http_status: int | None = None,
                 ambiguous: bool = False, retry_after: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.http_status = http_status
        # The provider's Retry-After header, as sent (seconds or an HTTP date): wait at least that.
        self.retry_after = retry_after
        # True when the request may have reached the provider (a timeout after sending):
        # the text must be reconciled, not blindly resent.
        self.ambiguous = ambiguous

    @property
    def retryable(self) -> bool:
        if self.ambiguous:
            return False
        if self.code in TEMPORARY_CODES:
            return True
        return self.http_status is not None and (self.http_status == 429 or self.http_status >= 500)


@dataclass(frozen=True)
class SentText:
    sid: str
    status: str  # the provider's status at acceptance, usually "queued"


@dataclass(frozen=True)
class FoundText:
    sid: str
    body: str
    created_at: datetime | None


@dataclass(frozen=True)
class FoundCall:
    sid: str
    created_at: datetime | None


@dataclass(frozen=True)
class Audio:
    """A recording's audio, fetched for one listener and not kept."""

    content: bytes
    content_type: str


class Provider(Protocol):
    name: str

    def prepare_thread(self) -> None:
        """Set up this thread's connection before it waits for a send slot, so the slot is not
        spent connecting (a late send would crowd the next second at the provider)."""
        ...

    def send_sms(self, to: str, body: str, *, status_callback: str | None,
                 validity_period: int | None) -> SentText:
        """Send one text. Raises ProviderError."""
        ...

    def place_call(self, to: str, *, twiml: str, status_callback: str | None) -> str:
        """Place one call that plays `twiml`; returns the call's id. Raises ProviderError."""
        ...

    def find_sent(self, to: str, since: datetime) -> list[FoundText]:
        """Texts already sent to `to` since `since`: reconciliation before any resend."""
        ...

    def find_calls(self, to: str, since: datetime) -> list[FoundCall]:
        """Calls already placed to `to` since `since`: reconciliation before any call is placed again."""
        ...

    def fetch_recording(self, sid: str) -> Audio:
        """A recording's audio, with the account's credentials (its URL never reaches a browser).
        Raises ProviderError: http_status 404 when it is gone."""
        ...

    def delete_recording(self, sid: str) -> None:
        """Delete one recording (audio and transcriptions) at the provider. Raises ProviderError:
        http_status 404 when it is already gone."""
        ...

    def delete_message(self, sid: str) -> None:
        """Delete one message (sent or received) and its body and numbers at the provider.
        Raises ProviderError: http_status 404 when it is already gone, code NOT_DELETABLE_YET
        while the provider is still processing it."""
        ...

    def delete_call(self, sid: str) -> None:
        """Delete one call's record (numbers, times) at the provider; errors as for delete_message."""
        ...
