"""The Twilio adapter: the one module that imports twilio.rest."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from requests.auth import _basic_auth_str
from requests.structures import CaseInsensitiveDict
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http import HttpClient
from twilio.http.response import Response
from twilio.rest import Client

from rapidresponse.messaging.provider import Audio, FoundCall, FoundText, ProviderError, SentText
from rapidresponse.settings import TWILIO_API_BASE_URL, Settings


@contextmanager
def provider_errors(what: str) -> Iterator[None]:
    """Twilio's exceptions as ProviderError: a refusal keeps its error code; a failure that may
    have happened after the request reached Twilio is ambiguous (reconcile, never blindly resend)."""
    try:
        yield
    except TwilioRestException as exc:
        raise ProviderError(exc.msg or f"Twilio refused the {what}", code=exc.code, http_status=exc.status) from None
    except TwilioServiceException as exc:  # the newer RFC 9457 error shape
        raise ProviderError(str(exc.title or f"Twilio refused the {what}"), code=exc.code,
                            http_status=exc.status) from None
    except (TwilioException, OSError) as exc:  # requests' connection errors derive from OSError
        raise ProviderError(f"Twilio {what} failed: {type(exc).__name__}", ambiguous=True) from None


class ApiHttpClient(HttpClient):
    """The SDK's HTTP client for every API request, one per sending thread.

    It hands a request to `requests`' connection adapter directly, as the SDK's own client does
    after a Session has prepared it, without the Session's layers that an API call does not use:
    cookies, hooks, redirects, and the scan of the environment for proxies and a CA bundle on
    every call. What the environment says for the API's host is read once, here. At full speed
    those layers were a third of a sending worker's CPU per text.

    Requests go to TWILIO_API_BASE_URL's scheme and host when it is set (a compatible provider, or a
    loopback fake): the SDK has no setting for this. The last response's Retry-After is kept, which the
    SDK's exceptions do not carry. Nothing is logged: a request holds numbers and bodies.
    """

    retry_after: str | None = None

    def __init__(self, base_url: str, *, timeout: float) -> None:
        super().__init__(logging.getLogger("twilio.http_client"), False, timeout)
        # Twilio's own API spans several hosts (api., messaging., ...): only a different base moves them.
        self._host = None if base_url == TWILIO_API_BASE_URL else urlsplit(base_url)[:2]
        # One thread's requests, one keep-alive connection; no retry: a POST is sent at most once.
        self._adapter = HTTPAdapter(pool_connections=1, pool_maxsize=2, max_retries=0)
        with requests.Session() as session:
            self._environment = session.merge_environment_settings(base_url, {}, None, None, None)

    def request(self, method: str, url: str, params: dict[str, object] | None = None,
                data: dict[str, object] | None = None, headers: dict[str, str] | None = None,
                auth: tuple[str, str] | None = None, timeout: float | None = None,
                allow_redirects: bool = False) -> Response:
        if timeout is None:
            timeout = self.timeout
        elif timeout <= 0:
            raise ValueError(timeout)
        parts = urlsplit(url)
        # As `requests` does: the URL's own query (a next page's), then the params.
        query = "&".join(q for q in (parts.query, urlencode(_pairs(params or {}), doseq=True)) if q)
        prepared = requests.PreparedRequest()
        prepared.method = method.upper()
        prepared.url = urlunsplit((*(self._host or parts[:2]), parts.path, query, ""))
        prepared.headers = CaseInsensitiveDict(headers or {})
        if auth is not None:
            prepared.headers["Authorization"] = _basic_auth_str(*auth)
        body: str | None = None  # ASCII either way: percent-encoded, or JSON's escapes
        if data is not None and prepared.headers.get("Content-Type") in _JSON_TYPES:
            body = json.dumps(data)
        elif data:
            body = urlencode(_pairs(data), doseq=True)
            prepared.headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        prepared.body = body
        if body is not None or prepared.method not in ("GET", "HEAD"):
            prepared.headers["Content-Length"] = str(len(body or ""))
        prepared.hooks = {"response": []}
        self.retry_after = None
        answer = self._adapter.send(prepared, timeout=timeout, **self._environment)
        self.retry_after = answer.headers.get("Retry-After")
        return Response(answer.status_code, answer.content.decode(answer.encoding or "utf-8", "replace"),
                        answer.headers)

    def close(self) -> None:
        self._adapter.close()


_JSON_TYPES = ("application/json", "application/scim+json")


def _pairs(values: dict[str, object]) -> list[tuple[str, object]]:
    """A form's fields as `requests` encodes them: a list is repeated keys, None is left out."""
    pairs: list[tuple[str, object]] = []
    for key, value in values.items():
        for one in value if isinstance(value, list | tuple) else [value]:
            if one is not None:
                pairs.append((key, one))
    return pairs


class TwilioProvider:
    name = "twilio"

    def __init__(self, settings: Settings) -> None:
        assert settings.twilio_account_sid and settings.twilio_auth_token
        self._settings = settings
        self._local = threading.local()
        self._from = settings.twilio_from_number
        self._service = settings.twilio_messaging_service_sid

    @property
    def _client(self) -> Client:
        """One client per thread: a worker sends from many threads at once, each on its own
        keep-alive connection (a shared client's pool of 10 would thrash)."""
        client: Client | None = getattr(self._local, "client", None)
        if client is None:
            settings = self._settings
            http_client = ApiHttpClient(settings.twilio_api_base_url, timeout=settings.send_timeout_seconds)
            client = Client(settings.twilio_account_sid, str(settings.twilio_auth_token), http_client=http_client)
            self._local.client = client
        return client

    def prepare_thread(self) -> None:
        # The SDK builds its API objects lazily, with imports, on first use: do it here, not
        # inside a send slot (a call's too: the first call of a thread otherwise lands late and
        # crowds the next one into the same second at the provider).
        self._client.messages  # noqa: B018
        self._client.calls  # noqa: B018

    def send_sms(self, to: str, body: str, *, status_callback: str | None,
                 validity_period: int | None) -> SentText:
        kwargs: dict[str, Any] = {"to": to, "body": body}
        if self._service:
            kwargs["messaging_service_sid"] = self._service
        else:
            kwargs["from_"] = self._from
        if status_callback:
            kwargs["status_callback"] = status_callback
        if validity_period:
            kwargs["validity_period"] = validity_period
        message = self._create("message", lambda client: client.messages.create(**kwargs))
        return SentText(sid=str(message.sid), status=str(message.status or "queued"))

    def _create(self, what: str, create: Callable[[Client], Any]) -> Any:
        """One create call (a text or a call), bounded by SEND_TIMEOUT_SECONDS, its refusal keeping
        Twilio's Retry-After."""
        client = self._client
        # A hanging send holds one thread; it must give up well inside the claim's lease.
        client.http_client.timeout = self._settings.send_timeout_seconds
        try:
            with provider_errors(what):
                return create(client)
        except ProviderError as exc:
            exc.retry_after = getattr(client.http_client, "retry_after", None)
            raise

    def place_call(self, to: str, *, twiml: str, status_callback: str | None) -> str:
        if not self._from:
            # A Messaging Service sends texts only: a call needs a number to come from.
            raise ProviderError("TWILIO_FROM_NUMBER is not set: calls need a number to come from", code=21212,
                                http_status=400)
        kwargs: dict[str, Any] = {"to": to, "from_": self._from, "twiml": twiml}
        if status_callback:
            kwargs["status_callback"] = status_callback
            kwargs["status_callback_method"] = "POST"
            kwargs["status_callback_event"] = ["initiated", "ringing", "answered", "completed"]
        call = self._create("call", lambda client: client.calls.create(**kwargs))
        return str(call.sid)

    def find_calls(self, to: str, since: datetime) -> list[FoundCall]:
        client = self._client
        client.http_client.timeout = self._settings.lookup_timeout_seconds
        with provider_errors("list"):
            # Newest first; a queued call has no start time yet, so filter on creation here.
            found = client.calls.list(to=to, limit=50)
        return [FoundCall(sid=str(c.sid), created_at=c.date_created) for c in found
                if c.date_created is None or c.date_created >= since]

    def fetch_recording(self, sid: str) -> Audio:
        """GET .../Recordings/RE....wav with the account's credentials, at TWILIO_API_BASE_URL. With
        `requests` itself rather than the SDK's client: the SDK's Response keeps only text, and
        audio is bytes."""
        settings = self._settings
        url = (f"{settings.twilio_api_base_url}/2010-04-01/Accounts/{settings.twilio_account_sid}"
               f"/Recordings/{sid}.wav")
        try:
            response = requests.get(url, auth=(str(settings.twilio_account_sid), str(settings.twilio_auth_token)),
                                    timeout=settings.lookup_timeout_seconds)
        except requests.RequestException as exc:
            raise ProviderError(f"Twilio recording fetch failed: {type(exc).__name__}") from None
        if response.status_code != 200:
            raise ProviderError("Twilio refused the recording", http_status=response.status_code)
        return Audio(response.content, response.headers.get("Content-Type", "audio/x-wav").split(";")[0])

    def delete_recording(self, sid: str) -> None:
        """Its transcriptions first, then the recording. A Transcription is a resource of its own at
        Twilio, holding the text; a Recording's DELETE is not documented to remove it. They are
        listed under the recording, so while it is still there: a refusal on the way raises, and
        the retry lists again (a transcription already gone, 404, is done)."""
        with provider_errors("transcription list"):
            transcriptions = [str(t.sid) for t in self._client.recordings(sid).transcriptions.list(limit=50)]
        for transcription in transcriptions:
            try:
                with provider_errors("transcription delete"):
                    self._client.transcriptions(transcription).delete()
            except ProviderError as exc:
                if exc.http_status != 404:
                    raise
        with provider_errors("recording delete"):
            self._client.recordings(sid).delete()

    def delete_message(self, sid: str) -> None:
        with provider_errors("delete"):
            self._client.messages(sid).delete()

    def delete_call(self, sid: str) -> None:
        with provider_errors("delete"):
            self._client.calls(sid).delete()

    def find_sent(self, to: str, since: datetime) -> list[FoundText]:
        client = self._client
        client.http_client.timeout = self._settings.lookup_timeout_seconds
        with provider_errors("list"):
            # DateSent filters by day; the caller matches bodies and creation times.
            found = client.messages.list(to=to, date_sent_after=since - timedelta(days=1), limit=50)
        return [FoundText(sid=str(m.sid), body=str(m.body or ""), created_at=m.date_created) for m in found]
