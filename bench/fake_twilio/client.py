"""A twilio SDK client pointed at the fake (the bench's own copy; the application has its own
in its adapter)."""

from __future__ import annotations

import urllib.parse
from typing import TYPE_CHECKING, Any

from requests.adapters import HTTPAdapter
from twilio.http.http_client import TwilioHttpClient

if TYPE_CHECKING:
    from bench.fake_twilio.server import FakeTwilio


class RedirectingHttpClient(TwilioHttpClient):
    """TwilioHttpClient that sends every request to ``base_url`` instead of *.twilio.com.

    The scheme and host of each URL are replaced; path and query are kept. Proxy environment
    variables are ignored (loopback traffic must not go through a proxy).
    """

    def __init__(self, base_url: str, pool_maxsize: int = 32, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        parts = urllib.parse.urlsplit(base_url)
        self.base_scheme = parts.scheme
        self.base_netloc = parts.netloc
        self.base_path = parts.path.rstrip("/")
        if self.session is not None:
            self.session.trust_env = False
            adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_maxsize)
            self.session.mount("http://", adapter)
            self.session.mount("https://", adapter)

    def rewrite(self, url: str) -> str:
        parts = urllib.parse.urlsplit(url)
        return urllib.parse.urlunsplit(
            (self.base_scheme, self.base_netloc, self.base_path + parts.path, parts.query, "")
        )

    def request(self, method, url, *args, **kwargs):  # type: ignore[override]
        return super().request(method, self.rewrite(url), *args, **kwargs)

    def close(self) -> None:
        if self.session is not None:
            self.session.close()


def twilio_client(fake: FakeTwilio, **http_kwargs: Any):
    """A ``twilio.rest.Client`` whose HTTP goes to ``fake``. Close with
    ``client.http_client.close()`` when done (it holds keep-alive connections)."""
    from twilio.rest import Client

    return Client(
        fake.account_sid,
        fake.auth_token,
        http_client=RedirectingHttpClient(fake.url, **http_kwargs),
    )
