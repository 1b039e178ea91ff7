"""Signing coordinators in and out: password check, failed-login limit, the login_required guard."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from flask import current_app, g, redirect, request, session, url_for
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from rapidresponse.console.models import Coordinator
from rapidresponse.services import Services

log = logging.getLogger(__name__)

MAX_FAILURES = 5
LOCKOUT_SECONDS = 15 * 60
SESSION_HOURS = 12
SESSION_KEY = "coordinator_id"
SIGNED_IN_KEY = "signed_in_at"
VERSION_KEY = "session_version"

F = TypeVar("F", bound=Callable[..., Any])

# Checked when the email is unknown, so a wrong email takes as long as a wrong password.
_DUMMY_HASH = generate_password_hash("not-a-real-password")


class LoginLimiter:
    """Failed logins per email in Redis: after MAX_FAILURES within the window, refuse until it ends.

    The key holds a keyed hash of the email, never the email. If Redis is down, logins are not
    limited (coordinators must still get in during an incident); the failure is logged.
    """

    def __init__(self, redis: Redis, key_of: Callable[[str], str], prefix: str = "",
                 max_failures: int = MAX_FAILURES, window_seconds: int = LOCKOUT_SECONDS) -> None:
        self.redis, self.key_of, self.prefix = redis, key_of, prefix
        self.max_failures, self.window_seconds = max_failures, window_seconds

    def _key(self, email: str) -> str:
        return f"{self.prefix}console:login-failures:{self.key_of(normalize_email(email))}"

    def locked(self, email: str) -> bool:
        try:
            count = self.redis.get(self._key(email))
        except RedisError as exc:
            log.warning("login limiter unavailable (%s); not limiting", type(exc).__name__)
            return False
        return count is not None and int(cast(bytes, count)) >= self.max_failures

    def failed(self, email: str) -> None:
        key = self._key(email)
        try:
            pipe = self.redis.pipeline()
            pipe.incr(key)
            pipe.ttl(key)
            count, ttl = pipe.execute()
            if int(count) == 1 or int(count) >= self.max_failures or int(ttl) < 0:
                # The window starts at the first failure; the lockout runs from the last one. A key
                # left without an expiry (a crash between the two calls) gets one here.
                self.redis.expire(key, self.window_seconds)
        except RedisError as exc:
            log.warning("login limiter unavailable (%s); failure not counted", type(exc).__name__)

    def succeeded(self, email: str) -> None:
        try:
            self.redis.delete(self._key(email))
        except RedisError as exc:
            log.warning("login limiter unavailable (%s)", type(exc).__name__)


def normalize_email(email: str) -> str:
    return email.strip().lower()


def limiter(svc: Services) -> LoginLimiter:
    return LoginLimiter(svc.redis, svc.cipher.blind_index, svc.settings.queue_prefix)


def authenticate(db_session: Session, email: str, password: str) -> Coordinator | None:
    """The coordinator with this email and password, or None."""
    coordinator = db_session.scalar(
        select(Coordinator).where(func.lower(Coordinator.email) == normalize_email(email)))
    if coordinator is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    return coordinator if check_password_hash(coordinator.password_hash, password) else None


def sign_in(coordinator: Coordinator) -> None:
    session.clear()  # a fresh session on every sign-in: nothing carried over from before
    session[SESSION_KEY] = coordinator.id
    session[SIGNED_IN_KEY] = int(time.time())
    session[VERSION_KEY] = coordinator.session_version


def sign_out() -> None:
    """End this coordinator's sessions everywhere: the cookie is signed, not stored, so the only
    way to make a copy of it useless (a lost phone, a shared computer) is to change its version."""
    coordinator_id = session.get(SESSION_KEY)
    if isinstance(coordinator_id, int):
        svc: Services = current_app.extensions["rapidresponse"]
        with svc.db.session() as db_session:
            db_session.execute(update(Coordinator).where(Coordinator.id == coordinator_id)
                               .values(session_version=Coordinator.session_version + 1))
    session.clear()


def current_coordinator() -> Coordinator | None:
    """The signed-in coordinator for this request (cached on `g`), or None."""
    if "coordinator" in g:
        return cast("Coordinator | None", g.coordinator)
    g.coordinator = None
    coordinator_id = session.get(SESSION_KEY)
    signed_in_at = session.get(SIGNED_IN_KEY, 0)
    if not isinstance(coordinator_id, int) or not isinstance(signed_in_at, int):
        return None
    if time.time() - signed_in_at > SESSION_HOURS * 3600:
        session.clear()
        return None
    svc: Services = current_app.extensions["rapidresponse"]
    with svc.db.session() as db_session:
        coordinator = db_session.get(Coordinator, coordinator_id)  # removed coordinators are signed out
    if coordinator is None or coordinator.session_version != session.get(VERSION_KEY):
        session.clear()  # removed, or signed out since this cookie was issued
        coordinator = None
    g.coordinator = coordinator
    return coordinator


def safe_next(target: str | None) -> str | None:
    """Only a path on this site may be returned to after signing in.

    Browsers drop tabs and newlines from a Location and read a backslash as a slash, so
    `/<TAB>/evil.example` would leave the site; anything but plain printable ASCII is refused, as
    is anything with a scheme or a host, and CR/LF never reach a header.
    """
    if not target or len(target) > 2048 or not target.isascii() or not target.isprintable():
        return None
    if " " in target or "\\" in target or not target.startswith("/") or target.startswith("//"):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def login_required(view: F) -> F:
    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if current_coordinator() is None:
            # Only a page can be returned to: after signing in, a form's POST would come back as a GET.
            target = request.full_path.rstrip("?") if request.method == "GET" else None
            return redirect(url_for("console.login", next=target))
        return view(*args, **kwargs)

    return cast(F, wrapped)
