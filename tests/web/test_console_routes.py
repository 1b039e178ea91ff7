"""Every console route, found by walking the app's URL map (so a new page cannot forget its guard):
signed out → sign in; a coordinator who is not an admin → 403 on every admin page; and with CSRF on,
a POST without its token → 400 and nothing changed."""

from __future__ import annotations

import re

import pytest

from tests.web.test_console_audit import ADMIN_EMAIL, log_of, make_admin
from tests.web.test_console_auth import add_coordinator, sign_in

# Reached without signing in: signing in itself, and the one-time link that sets a first password.
PUBLIC = {"console.login", "console.logout", "console.index", "console.welcome", "static"}
SAMPLE = {"int": "1", "id": "1", "string": "x", "path": "x"}


def console_routes(app) -> list[tuple[str, str, str, bool]]:
    """(endpoint, method, a URL for it, admin only) for every console route and method."""
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("console.") or rule.endpoint in PUBLIC:
            continue
        values = {}
        for name, converter in rule._converters.items():  # noqa: SLF001 - werkzeug keeps them here
            choices = getattr(converter, "items", None)  # any(a, b): the first choice
            values[name] = next(iter(choices)) if choices else SAMPLE.get(
                type(converter).__name__.removesuffix("Converter").lower(), "1")
        with app.test_request_context():
            url = app.url_for(rule.endpoint, **values)
        admin_only = getattr(app.view_functions[rule.endpoint], "admin_only", False)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((rule.endpoint, method, url, admin_only))
    return found


def test_the_walk_finds_the_pages_it_should(app):
    """The walk sees the pages we know of, members' and admins' among them (a sanity check on the walk)."""
    endpoints = {endpoint for endpoint, *_ in console_routes(app)}
    assert {"console.incident_list", "console.member_list", "console.audit_log", "console.coordinators",
            "console.shred_incidents", "console.import_preview"} <= endpoints
    admin = {endpoint for endpoint, _, _, admin_only in console_routes(app) if admin_only}
    assert {"console.audit_log", "console.export_members", "console.shred_incidents"} <= admin
    assert "console.member_list" not in admin


def test_every_console_route_sends_a_signed_out_visitor_to_sign_in(app, svc):
    """GETs come back to the page after signing in; POSTs go to the sign-in page; JSON may answer 401."""
    client = app.test_client()
    for endpoint, method, url, _ in console_routes(app):
        response = client.open(url, method=method)
        if response.status_code == 401:
            continue  # a machine endpoint (polled JSON) says so rather than redirecting
        assert response.status_code == 302, (endpoint, method, response.status_code)
        location = response.headers["Location"]
        assert location == ("/login?next=" + url if method == "GET" else "/login"), (endpoint, location)


def test_every_admin_route_is_403_for_a_coordinator(app, svc):
    """A signed-in coordinator who is not an admin is refused every admin page and button, and nothing
    is recorded as done."""
    client = app.test_client()
    add_coordinator(svc)
    sign_in(client)
    admin_routes = [r for r in console_routes(app) if r[3]]
    assert admin_routes
    for endpoint, method, url, _ in admin_routes:
        response = client.open(url, method=method, data={"typed": "SHRED", "email": "x@example.org"})
        assert response.status_code == 403, (endpoint, method, response.status_code)
    assert log_of(svc) == []


def test_every_console_post_without_its_csrf_token_is_400(app, svc):
    """With CSRF on, as in production, an admin's POST lacking the token is refused and changes nothing."""
    make_admin(svc)
    client = app.test_client()
    sign_in(client, email=ADMIN_EMAIL)
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        for endpoint, method, url, _ in console_routes(app):
            if method != "POST":
                continue
            response = client.post(url, data={"typed": "SHRED", "email": "x@example.org", "decision": "resolve",
                                              "body": "note", "item": "report", "language": "en"})
            assert response.status_code == 400, (endpoint, response.status_code)
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    assert log_of(svc) == []


@pytest.mark.parametrize("path", ["/members", "/admin/audit", "/admin/coordinators"])
def test_pages_carry_a_csrf_token_in_every_post_form(app, svc, path):
    """Every form a page shows that POSTs carries the CSRF token, so the 400 above never hits a real user."""
    make_admin(svc)
    client = app.test_client()
    sign_in(client, email=ADMIN_EMAIL)
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        page = client.get(path).data.decode()
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    for form in re.findall(r'<form[^>]*method="post".*?</form>', page, flags=re.S):
        assert 'name="csrf_token"' in form, form[:120]
