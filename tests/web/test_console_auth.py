"""Console sign-in: login required, wrong passwords refused, the failed-login limit, CSRF."""

from __future__ import annotations

import re

from werkzeug.security import generate_password_hash

from rapidresponse.console.models import new_coordinator

EMAIL = "ana@example.org"
PASSWORD = "correct horse battery staple"


def add_coordinator(svc, email=EMAIL, password=PASSWORD) -> int:
    with svc.db.session() as session:
        coordinator = new_coordinator(svc.cipher, email, generate_password_hash(password))
        session.add(coordinator)
        session.flush()
        return coordinator.id


def sign_in(client, email=EMAIL, password=PASSWORD):
    return client.post("/login", data={"email": email, "password": password})


def test_pages_redirect_to_login_when_signed_out(client, svc):
    """Every console page sends a signed-out visitor to /login, remembering where they were going."""
    for path in ("/incidents", "/incidents/1"):
        response = client.get(path)
        assert response.status_code == 302
        assert response.headers["Location"] == "/login?next=" + path
    for path, data in (("/incidents/1/decision", {"decision": "resolve"}),
                       ("/incidents/1/notes", {"body": "hi"})):
        response = client.post(path, data=data)
        assert response.status_code == 302 and response.headers["Location"] == "/login"


def test_root_redirects_to_incidents(client, svc):
    """/ goes to the incidents list."""
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"].endswith("/incidents")


def test_login_page_renders(client, svc):
    """GET /login shows the sign-in form."""
    response = client.get("/login")
    assert response.status_code == 200 and b'name="password"' in response.data


def test_right_password_signs_in_and_logout_signs_out(client, svc):
    """The right email and password open the console (email case-insensitive); signing out closes it."""
    add_coordinator(svc)
    response = sign_in(client, email="  Ana@Example.org ")
    assert response.status_code == 302 and response.headers["Location"].endswith("/incidents")
    assert client.get("/incidents").status_code == 200
    assert client.post("/logout").status_code == 302
    assert client.get("/incidents").status_code == 302


def test_signing_out_revokes_a_copied_session_cookie(app, client, svc):
    """A cookie copied before sign-out (a lost phone, a shared computer) no longer opens the console."""
    add_coordinator(svc)
    sign_in(client)
    copied = client.get_cookie("session").value
    other_device = app.test_client()
    other_device.set_cookie("session", copied)
    assert other_device.get("/incidents").status_code == 200
    assert client.post("/logout").status_code == 302
    assert other_device.get("/incidents").status_code == 302
    sign_in(client)  # signing in again works, with a fresh cookie
    assert client.get("/incidents").status_code == 200


def test_login_returns_to_the_page_asked_for_but_never_off_site(client, svc):
    """After signing in, a local `next` is followed; an absolute or protocol-relative one is not."""
    add_coordinator(svc)
    ok = client.post("/login", data={"email": EMAIL, "password": PASSWORD, "next": "/incidents?x=1"})
    assert ok.headers["Location"] == "/incidents?x=1"
    for evil in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        response = client.post("/login", data={"email": EMAIL, "password": PASSWORD, "next": evil})
        assert response.headers["Location"] == "/incidents"


def test_wrong_password_and_unknown_email_are_refused(client, svc):
    """A wrong password or an unknown email gets 401, the same message, and no session."""
    add_coordinator(svc)
    for email, password in ((EMAIL, "wrong"), ("nobody@example.org", PASSWORD)):
        response = sign_in(client, email, password)
        assert response.status_code == 401 and b"Wrong email or password" in response.data
        assert client.get("/incidents").status_code == 302


def test_empty_login_form_is_a_400(client, svc):
    """A login POST missing its fields is refused with 400 and the form again."""
    response = client.post("/login", data={"email": ""})
    assert response.status_code == 400 and b'name="password"' in response.data


def test_five_failures_lock_the_email_out_from_that_address(client, svc):
    """After 5 failed sign-ins for an email from one address, even the right password from there is
    refused (429) for 15 minutes; the keys hold no email."""
    add_coordinator(svc)
    for _ in range(5):
        assert sign_in(client, EMAIL, "wrong").status_code == 401
    locked = sign_in(client, EMAIL.upper(), PASSWORD)
    assert locked.status_code == 429 and b"Try again in 15 minutes" in locked.data
    assert client.get("/incidents").status_code == 302
    keys = [k.decode() for k in svc.redis.scan_iter(f"{svc.settings.queue_prefix}console:*")]
    assert keys and not any("example" in k or "ana" in k for k in keys)
    assert all(0 < svc.redis.ttl(k) <= 15 * 60 for k in keys)


def test_lockout_is_per_email_and_a_success_resets_the_count(client, svc):
    """Failures below the limit are forgotten after a successful sign-in; other emails are not affected."""
    add_coordinator(svc)
    add_coordinator(svc, "ben@example.org")
    for _ in range(4):
        sign_in(client, EMAIL, "wrong")
    assert sign_in(client).status_code == 302
    for _ in range(4):
        assert sign_in(client, EMAIL, "wrong").status_code == 401
    assert sign_in(client, "ben@example.org", PASSWORD).status_code == 302


def test_post_without_csrf_token_is_refused_when_csrf_is_enabled(app, svc):
    """With CSRF on (as in production), a POST lacking the token gets 400; with the page's token it works."""
    app.config["WTF_CSRF_ENABLED"] = True
    add_coordinator(svc)
    client = app.test_client()
    refused = client.post("/login", data={"email": EMAIL, "password": PASSWORD})
    assert refused.status_code == 400 and b"CSRF" in refused.data
    page = client.get("/login").data.decode()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    accepted = client.post("/login", data={"email": EMAIL, "password": PASSWORD, "csrf_token": token})
    assert accepted.status_code == 302
    assert client.post("/incidents/1/decision", data={"decision": "resolve"}).status_code == 400
