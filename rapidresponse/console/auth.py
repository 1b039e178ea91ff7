"""Signing coordinators in and out: password check, failed-login limit, the login_required guard."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from flask import abort, current_app, g, redirect, request, session, url_for
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from rapidresponse.console.models import Coordinator, email_index, normalize_email
from rapidresponse.privacy.crypto import FieldCipher
from rapidresponse.services import Services

log = logging.getLogger(__name__)

MAX_FAILURES = 5  # per account from one address
MAX_FAILURES_PER_ADDRESS = 20  # per address, whatever the accounts tried
ACCOUNT_THROTTLE_AFTER = 10  # failures on one account from anywhere, then...
ACCOUNT_THROTTLE_SECONDS = 2  # ...one evaluated attempt per this many seconds on it
LOCKOUT_SECONDS = 15 * 60
SESSION_HOURS = 12
SESSION_KEY = "coordinator_id"
SIGNED_IN_KEY = "signed_in_at"
VERSION_KEY = "session_version"

F = TypeVar("F", bound=Callable[..., Any])

# Checked when the email is unknown, so a wrong email takes as long as a wrong password.
_DUMMY_HASH = generate_password_hash("not-a-real-password")

# Checks every limit and counts the attempt as a failure in one step, before the password is
# looked at: 48 concurrent guesses from one address give 5 evaluations, not 12. Refusals count
# nothing, so an attacker's refused guesses never use up the account's throttle slot.
_ATTEMPT = """
local address, pair, account, slot = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local per_address, per_pair, throttle_after = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if tonumber(redis.call('GET', address) or '0') >= per_address then return redis.call('PTTL', address) end
if tonumber(redis.call('GET', pair) or '0') >= per_pair then return redis.call('PTTL', pair) end
if tonumber(redis.call('GET', account) or '0') >= throttle_after then
  if not redis.call('SET', slot, '1', 'NX', 'PX', ARGV[5]) then return redis.call('PTTL', slot) end
end
for _, key in ipairs({address, pair, account}) do
  redis.call('INCR', key)
  redis.call('EXPIRE', key, ARGV[4])
end
return 0
"""


@dataclass(frozen=True)
class Attempt:
    allowed: bool
    retry_after_seconds: int = 0


class LoginLimiter:
    """Failed sign-ins counted per source address, per account from that address, and per account.

    Throttle, never lock out: 5 failures for an account lock only the address they came from
    (for 15 minutes after the last), 20 failures lock an address out of every account, and an
    account under attack from many addresses is slowed to one evaluated attempt every 2 seconds,
    so its coordinator, from their own address, still gets in with the right password.
    `rapidresponse coordinators unlock EMAIL` clears an account's counts.

    Keys hold keyed hashes of the email and address, never either. If Redis is down, sign-ins
    are not limited (coordinators must still get in during an incident); the failure is logged.
    """

    def __init__(self, redis: Redis, key_of: Callable[[str], str], prefix: str = "",
                 max_failures: int = MAX_FAILURES, window_seconds: int = LOCKOUT_SECONDS,
                 per_address: int = MAX_FAILURES_PER_ADDRESS, throttle_after: int = ACCOUNT_THROTTLE_AFTER,
                 throttle_seconds: float = ACCOUNT_THROTTLE_SECONDS) -> None:
        self.redis, self.key_of, self.prefix = redis, key_of, prefix
        self.max_failures, self.window_seconds = max_failures, window_seconds
        self.per_address, self.throttle_after, self.throttle_seconds = per_address, throttle_after, throttle_seconds
        self._attempt = redis.register_script(_ATTEMPT)

    def _keys(self, email: str, address: str) -> list[str]:
        base = f"{self.prefix}console:login"
        account = self.key_of("email:" + normalize_email(email))
        where = self.key_of("address:" + address)
        return [f"{base}:address:{where}", f"{base}:pair:{account}:{where}", f"{base}:account:{account}",
                f"{base}:slot:{account}"]

    def attempt(self, email: str, address: str) -> Attempt:
        """May this sign-in be evaluated? If so it is counted as a failure until `succeeded`."""
        try:
            wait_ms = int(cast(int, self._attempt(
                keys=self._keys(email, address),
                args=[self.per_address, self.max_failures, self.throttle_after, self.window_seconds,
                      int(self.throttle_seconds * 1000)])))
        except RedisError as exc:
            log.warning("login limiter unavailable (%s); not limiting", type(exc).__name__)
            return Attempt(True)
        return Attempt(True) if wait_ms == 0 else Attempt(False, max(1, -(-wait_ms // 1000)))

    def succeeded(self, email: str, address: str) -> None:
        """The right password: this attempt was no failure, and the account's counts start again."""
        address_key, pair, account, slot = self._keys(email, address)
        try:
            pipe = self.redis.pipeline()
            pipe.decr(address_key)
            pipe.delete(pair, account, slot)
            pipe.execute()
        except RedisError as exc:
            log.warning("login limiter unavailable (%s)", type(exc).__name__)

    def unlock(self, email: str) -> int:
        """Forget every failure counted against this account, from any address (the CLI's unlock)."""
        _, pair, account, slot = self._keys(email, "-")
        pairs = list(self.redis.scan_iter(pair.rsplit(":", 1)[0] + ":*"))
        return int(self.redis.delete(account, slot, *pairs)) if pairs else int(self.redis.delete(account, slot))


def limiter(svc: Services) -> LoginLimiter:
    return LoginLimiter(svc.redis, svc.cipher.blind_index, svc.settings.queue_prefix)


def authenticate(db_session: Session, cipher: FieldCipher, email: str, password: str) -> Coordinator | None:
    """The coordinator with this email and password, or None (found by the email's blind index)."""
    coordinator = db_session.scalar(
        select(Coordinator).where(Coordinator.email_index == email_index(cipher, email)))
    # Unknown, disabled, or waiting for a link to set a password: as slow as a wrong password.
    if coordinator is None or coordinator.disabled_at is not None or not coordinator.has_password:
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
    if (coordinator is None or coordinator.session_version != session.get(VERSION_KEY)
            or coordinator.disabled_at is not None):
        session.clear()  # removed, disabled, or signed out since this cookie was issued
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


def admin_required(view: F) -> F:
    """Signed-out visitors go to sign in (as with login_required); a coordinator who is not an admin
    gets 403."""
    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        coordinator = current_coordinator()
        if coordinator is not None and not coordinator.is_admin:
            abort(403, "Only an admin may open this page.")
        return view(*args, **kwargs)

    wrapped.admin_only = True  # type: ignore[attr-defined]  # tests/web/test_console_routes.py walks for it
    return login_required(cast(F, wrapped))
