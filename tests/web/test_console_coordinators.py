"""Admins invite coordinators with a one-time link, reset passwords, disable and enable sign-ins;
each is audited, and the link page lets the invitee choose a password of 12 characters or more."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from rapidresponse.console import accounts
from rapidresponse.console.models import Coordinator, SignInLink
from rapidresponse.db import utcnow
from tests.web.test_console_audit import ADMIN_EMAIL, log_of, make_admin
from tests.web.test_console_auth import EMAIL, PASSWORD, add_coordinator, sign_in

NEW = "new.person@example.org"
NEW_PASSWORD = "a long enough new password"


@pytest.fixture
def admin_id(client, svc) -> int:
    admin_id = make_admin(svc)
    assert sign_in(client, email=ADMIN_EMAIL).status_code == 302
    return admin_id


def link_in(page: str) -> str:
    """The path and query of the one-time link shown on a page."""
    url = re.search(r"<code>([^<]+)</code>", page).group(1).replace("&amp;", "&")
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def token_of(link: str) -> str:
    return link.split("token=", 1)[1]


def coordinator(svc, email: str) -> Coordinator | None:
    with svc.db.session() as session:
        return accounts.find(session, svc.cipher, email)


def test_invite_shows_a_link_that_sets_a_password_once(client, svc, admin_id, app):
    """The admin sees the link once; the invitee chooses a password there and signs in with it;
    the same link then works no more."""
    page = client.post("/admin/coordinators/invite", data={"email": " New.Person@Example.org "}).data.decode()
    link = link_in(page)
    assert link.startswith("/welcome?token=") and "rr.example.org" in page
    invited = coordinator(svc, NEW)
    assert invited is not None and not invited.has_password and not invited.is_admin
    assert NEW in client.get("/admin/coordinators").data.decode()

    invitee = app.test_client()
    assert invitee.post("/login", data={"email": NEW, "password": ""}).status_code == 400
    form = invitee.get(link)
    assert form.status_code == 200 and NEW in form.data.decode()
    done = invitee.post("/welcome", data={"token": token_of(link), "password": NEW_PASSWORD, "again": NEW_PASSWORD})
    assert done.status_code == 302 and done.headers["Location"] == "/login"
    assert sign_in(invitee, email=NEW, password=NEW_PASSWORD).status_code == 302
    assert invitee.get("/incidents").status_code == 200
    assert invitee.get("/admin/coordinators").status_code == 403
    again = app.test_client().post("/welcome", data={"token": token_of(link), "password": "someone else's pw",
                                                      "again": "someone else's pw"})
    assert again.status_code == 404 and b"does not work any more" in again.data
    assert app.test_client().get(link).status_code == 404
    assert [a for _, a, *_ in log_of(svc)] == ["invite", "password_set"]


def test_an_admin_can_invite_an_admin(client, svc, admin_id):
    """The admin box makes the invitee an admin."""
    client.post("/admin/coordinators/invite", data={"email": NEW, "admin": "y"})
    assert coordinator(svc, NEW).is_admin


@pytest.mark.parametrize(("data", "message"), [
    ({"email": ""}, "Type their email."),
    ({"email": "not-an-email"}, "not an email address"),
    ({"email": ADMIN_EMAIL}, "already has a sign-in"),
])
def test_a_bad_invitation_says_why_and_changes_nothing(client, svc, admin_id, data, message):
    """An empty or malformed email, or one already in use, is refused with the reason; nothing is made."""
    response = client.post("/admin/coordinators/invite", data=data)
    assert response.status_code == 400 and message in response.data.decode()
    with svc.db.session() as session:
        assert len(session.scalars(select(Coordinator)).all()) == 1
        assert session.scalars(select(SignInLink)).all() == []
    assert log_of(svc) == []


@pytest.mark.parametrize(("password", "again", "message"), [
    ("short pw", "short pw", "at least 12"),
    (NEW_PASSWORD, NEW_PASSWORD + "x", "do not match"),
    ("", "", "Choose a password."),
])
def test_a_bad_password_on_the_link_page_says_why_and_keeps_the_link(client, svc, admin_id, app, password, again,
                                                                     message):
    """Too short, not matching or empty: the page says so, and the link still works afterwards."""
    link = link_in(client.post("/admin/coordinators/invite", data={"email": NEW}).data.decode())
    invitee = app.test_client()
    response = invitee.post("/welcome", data={"token": token_of(link), "password": password, "again": again})
    assert response.status_code == 400 and message in response.data.decode()
    assert not coordinator(svc, NEW).has_password
    assert invitee.get(link).status_code == 200


@pytest.mark.parametrize("token", ["", "x" * 200, "not-a-token", "%00"])
def test_an_unknown_link_is_refused_clearly(client, svc, token):
    """A made-up, empty or oversized token gets the 'ask an admin' page, never a 500."""
    assert client.get(f"/welcome?token={token}").status_code == 404
    response = client.post("/welcome", data={"token": token, "password": NEW_PASSWORD, "again": NEW_PASSWORD})
    assert response.status_code == 404 and b"Ask an admin" in response.data


def test_an_expired_link_is_refused(client, svc, admin_id, app):
    """After its 72 hours an invitation's link no longer works."""
    link = link_in(client.post("/admin/coordinators/invite", data={"email": NEW}).data.decode())
    with svc.db.session() as session:
        for row in session.scalars(select(SignInLink)):
            row.expires_at = utcnow() - timedelta(seconds=1)
    assert app.test_client().get(link).status_code == 404
    assert "link expired" in client.get("/admin/coordinators").data.decode()


def test_reset_ends_sessions_stops_the_old_password_and_gives_a_new_link(client, svc, admin_id, app):
    """A reset signs the coordinator out everywhere at once; only the new link lets them in again."""
    target = add_coordinator(svc)
    theirs = app.test_client()
    sign_in(theirs)
    assert theirs.get("/incidents").status_code == 200
    page = client.post(f"/admin/coordinators/{target}/reset").data.decode()
    assert "Password reset for " + EMAIL in page
    assert theirs.get("/incidents").status_code == 302
    assert sign_in(app.test_client()).status_code == 401
    link = link_in(page)
    theirs.post("/welcome", data={"token": token_of(link), "password": NEW_PASSWORD, "again": NEW_PASSWORD})
    assert sign_in(app.test_client(), password=NEW_PASSWORD).status_code == 302
    assert [(a, t) for _, a, _, t in log_of(svc)] == [("password_reset", target), ("password_set", target)]


def test_a_newer_link_replaces_the_older_one(client, svc, admin_id, app):
    """Two resets in a row: only the second link works."""
    target = add_coordinator(svc)
    first = link_in(client.post(f"/admin/coordinators/{target}/reset").data.decode())
    second = link_in(client.post(f"/admin/coordinators/{target}/reset").data.decode())
    assert app.test_client().get(first).status_code == 404
    assert app.test_client().get(second).status_code == 200


def test_disable_ends_sessions_and_refuses_sign_in_until_enabled(client, svc, admin_id, app):
    """A disabled coordinator is signed out at once and cannot sign in; enabled, the password works again."""
    target = add_coordinator(svc)
    theirs = app.test_client()
    sign_in(theirs)
    response = client.post(f"/admin/coordinators/{target}/disable", follow_redirects=True)
    assert f"{EMAIL} is disabled" in response.data.decode()
    assert theirs.get("/incidents").status_code == 302
    assert sign_in(app.test_client()).status_code == 401
    again = client.post(f"/admin/coordinators/{target}/disable", follow_redirects=True)
    assert "already was disabled" in again.data.decode()
    client.post(f"/admin/coordinators/{target}/enable")
    assert sign_in(app.test_client(), password=PASSWORD).status_code == 302
    assert [(a, t) for _, a, _, t in log_of(svc)] == [("disable", target), ("enable", target)]


def test_an_admin_cannot_disable_themself_or_the_last_admin(client, svc, admin_id):
    """Nobody locks the network out of its own console: no disabling yourself, nor the last admin."""
    response = client.post(f"/admin/coordinators/{admin_id}/disable")
    assert response.status_code == 400 and "your own sign-in" in response.data.decode()
    with svc.db.session() as session:
        assert accounts.active_admins(session) == 1
        with pytest.raises(accounts.AccountError, match="last admin"):
            accounts.disable(session, session.get(Coordinator, admin_id), utcnow(), actor_id=None)
    assert log_of(svc) == []


def test_unknown_coordinator_or_action_is_404(client, svc, admin_id):
    """An id that is not there, or an action that does not exist, is a 404."""
    assert client.post("/admin/coordinators/999/disable").status_code == 404
    assert client.post(f"/admin/coordinators/{admin_id}/delete").status_code == 404
    assert client.post("/admin/coordinators/99999999999/reset").status_code == 404


def test_coordinators_who_are_not_admins_get_403_everywhere_here(client, svc):
    """Every coordinators page and button is for admins only; signed out, they lead to sign in."""
    target = add_coordinator(svc, email="other@example.org")
    paths = ["/admin/coordinators/invite", f"/admin/coordinators/{target}/disable",
             f"/admin/coordinators/{target}/enable", f"/admin/coordinators/{target}/reset"]
    assert client.get("/admin/coordinators").headers["Location"] == "/login?next=/admin/coordinators"
    for path in paths:
        assert client.post(path, data={"email": NEW}).headers["Location"] == "/login"
    add_coordinator(svc)
    sign_in(client)
    assert client.get("/admin/coordinators").status_code == 403
    for path in paths:
        assert client.post(path, data={"email": NEW}).status_code == 403
    assert coordinator(svc, NEW) is None and log_of(svc) == []
