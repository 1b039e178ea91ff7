"""Console pages tell the browser to run no inline script, never be framed, sniff nothing, leak no
referrer, cache nothing, and (over https) always use https."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from rapidresponse import create_app
from rapidresponse.services import build_services
from rapidresponse.settings import Settings
from tests import conftest
from tests.web.test_console_auth import add_coordinator, sign_in
from tests.web.test_console_incidents import report

INLINE = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>|<style|\sstyle=|\son[a-z]+=", re.IGNORECASE)


@pytest.fixture
def pages(client, svc) -> list[str]:
    """Every console page, signed in, with an incident to show."""
    add_coordinator(svc)
    incident = report(client, svc)
    assert sign_in(client).status_code == 302
    return ["/login", "/incidents", f"/incidents/{incident.id}"]


def test_console_pages_send_the_security_headers(client, pages):
    """Each console page forbids inline scripts and framing, sniffing, referrers and caching."""
    for path in pages:
        response = client.get(path)
        assert response.status_code == 200, path
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp and "frame-ancestors 'none'" in csp
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin"
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["Strict-Transport-Security"].startswith("max-age=")  # PUBLIC_BASE_URL is https


def test_console_pages_have_no_inline_script_or_style(client, pages):
    """Nothing on a console page needs 'unsafe-inline': scripts and styles are static files."""
    for path in pages:
        page = client.get(path).data
        assert not INLINE.search(page), (path, INLINE.search(page))
        for asset in re.findall(rb'(?:src|href)="(/static/[^"]+)"', page):
            with client.get(asset.decode()) as served:
                assert served.status_code == 200


def test_a_redirect_and_an_error_page_carry_the_headers_too(client, svc):
    """Even a redirect to sign in or a 404 may not be framed or cached."""
    for response in (client.get("/incidents"), client.get("/no-such-page")):
        assert response.headers["X-Frame-Options"] == "DENY" and response.headers["Cache-Control"] == "no-store"


def test_no_hsts_when_served_over_plain_http(tmp_path: Path, database_url: str):
    """HSTS is only sent when the site is served over https (a local http run is not pinned)."""
    env = conftest.test_env(tmp_path, database_url, PUBLIC_BASE_URL="http://localhost:5000")
    services = build_services(Settings.from_env(env))
    services.db.create_all()
    try:
        app: Any = create_app(services=services)
        response = app.test_client().get("/login")
        assert response.status_code == 200 and "Strict-Transport-Security" not in response.headers
        assert app.test_client().get("/login", base_url="https://localhost").headers[
            "Strict-Transport-Security"].startswith("max-age=")
    finally:
        services.redis.close()
        services.db.engine.dispose()


def test_simulator_page_has_no_inline_script(tmp_path: Path, database_url: str):
    """The phone simulator polls from a static script, so it works under the same policy."""
    env = {k: v for k, v in conftest.test_env(tmp_path, database_url).items() if not k.startswith("TWILIO_")}
    with conftest.fresh_services(Settings.from_env(env)) as services:
        client = conftest.testing_app(services).test_client()
        page = client.get("/simulator")
        assert page.status_code == 200 and not INLINE.search(page.data)
        assert b'data-messages="/simulator/messages"' in page.data
        with client.get("/static/simulator.js") as served:
            assert served.status_code == 200
