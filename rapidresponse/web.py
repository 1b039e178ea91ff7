"""What every web page shares: the id URL converter and the security headers on each response."""

from __future__ import annotations

from typing import Any

from flask import Flask, Request, Response, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from werkzeug.routing import BaseConverter, ValidationError

from rapidresponse.db import parse_id

# No inline script or style anywhere (they live in rapidresponse/static/), so the policy can
# forbid them: an injected <script> in a report text would not run even if escaping failed.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HSTS = "max-age=31536000; includeSubDomains"


class IdConverter(BaseConverter):
    """`<id:incident_id>`: 1..MAX_ID in ASCII digits, anything else is a 404 before the view runs."""

    regex = r"\d{1,10}"

    def to_python(self, value: str) -> int:
        parsed = parse_id(value)
        if parsed is None:
            raise ValidationError()
        return parsed

    def to_url(self, value: Any) -> str:
        return str(int(value))


class ConsoleSessions(SecureCookieSessionInterface):
    """The console's signed-cookie sessions. Twilio's webhooks (/twilio/...) are signed requests
    that carry no cookie and keep nothing between requests: they get Flask's null session, so a
    status callback does not build a cookie serializer on the way in nor look at cookies on the
    way out (a few percent of its CPU)."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if request.path.startswith("/twilio/"):
            return self.make_null_session(app)
        return super().open_session(app, request)


def init_app(app: Flask, *, https: bool) -> None:
    app.url_map.converters["id"] = IdConverter
    app.session_interface = ConsoleSessions()

    @app.after_request
    def security_headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        if https or request.is_secure:
            headers.setdefault("Strict-Transport-Security", HSTS)
        if request.endpoint != "static":
            # Console pages show members' reports and the thread; webhook answers carry replies.
            # None of it belongs in a browser's or a proxy's cache.
            headers["Cache-Control"] = "no-store"
        return response
