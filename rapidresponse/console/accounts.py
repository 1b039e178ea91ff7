"""Managing coordinators' sign-ins: invitations, one-time password links, disabling, enabling.

Plain functions over a Session (no Flask): the admin pages and the `rapidresponse coordinators`
commands call the same ones, and each is audited here. A link is shown once and stored only as
a hash; using it deletes it (a conditional DELETE, so two tabs cannot both use one link).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from rapidresponse import audit
from rapidresponse.console.models import (
    Coordinator,
    LinkPurpose,
    SignInLink,
    email_index,
    new_coordinator,
    normalize_email,
)
from rapidresponse.privacy.crypto import FieldCipher

PASSWORD_MIN = 12
PASSWORD_MAX = 1024
INVITE_HOURS = 72
RESET_HOURS = 24
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
# The token rides in the query string: gunicorn's access log and our logs show paths only.
LINK_PATH = "/welcome"


class AccountError(ValueError):
    """An account change was refused; the message says why, to the admin."""


@dataclass(frozen=True)
class Link:
    """A one-time link just made: `token` is shown once and never stored."""

    coordinator: Coordinator
    token: str
    expires_at: datetime

    def url(self, base_url: str) -> str:
        return f"{base_url.rstrip('/')}{LINK_PATH}?{urlencode({'token': self.token})}"


def checked_email(raw: str) -> str:
    email = normalize_email(raw)
    if len(email) > 254 or not EMAIL.match(email):
        raise AccountError("not an email address like name@example.org")
    return email


def password_problem(password: str) -> str | None:
    """Why this password is refused, or None."""
    if len(password) < PASSWORD_MIN:
        return f"That is {len(password)} characters; a password needs at least {PASSWORD_MIN} (a few words is easiest)."
    if len(password) > PASSWORD_MAX:
        return f"A password can be at most {PASSWORD_MAX} characters."
    return None


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def find(session: Session, cipher: FieldCipher, email: str) -> Coordinator | None:
    return session.scalar(select(Coordinator).where(Coordinator.email_index == email_index(cipher, email)))


def _new_link(session: Session, coordinator: Coordinator, purpose: LinkPurpose, now: datetime) -> Link:
    session.execute(delete(SignInLink).where(SignInLink.coordinator_id == coordinator.id))
    token = secrets.token_urlsafe(32)
    hours = INVITE_HOURS if purpose == LinkPurpose.INVITE else RESET_HOURS
    expires = now + timedelta(hours=hours)
    session.add(SignInLink(coordinator_id=coordinator.id, token_hash=_hash(token), purpose=purpose.value,
                           expires_at=expires, created_at=now))
    return Link(coordinator, token, expires)


def invite(session: Session, cipher: FieldCipher, raw_email: str, now: datetime, *, actor_id: int | None,
           admin: bool = False) -> Link:
    """A new coordinator (or admin) with no password yet, and their one-time link (INVITE_HOURS)."""
    email = checked_email(raw_email)
    if find(session, cipher, email) is not None:
        raise AccountError(f"{email} already has a sign-in; reset its password instead")
    coordinator = new_coordinator(cipher, email, "", admin=admin)
    coordinator.created_at = now
    session.add(coordinator)
    session.flush()
    audit.record(session, actor_id, audit.AuditAction.INVITE, now, target=audit.Target.COORDINATOR,
                 target_id=coordinator.id)
    return _new_link(session, coordinator, LinkPurpose.INVITE, now)


def reset_password(session: Session, coordinator: Coordinator, now: datetime, *, actor_id: int | None) -> Link:
    """The old password stops working and every session ends at once; a new link (RESET_HOURS)
    lets its owner choose another. An invitation not yet used gets a fresh link the same way."""
    if coordinator.disabled_at is not None:
        raise AccountError("this sign-in is disabled; enable it first")
    purpose = LinkPurpose.RESET if coordinator.has_password else LinkPurpose.INVITE
    coordinator.password_hash = ""
    coordinator.session_version += 1
    audit.record(session, actor_id, audit.AuditAction.PASSWORD_RESET, now, target=audit.Target.COORDINATOR,
                 target_id=coordinator.id)
    return _new_link(session, coordinator, purpose, now)


def active_admins(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Coordinator).where(
        Coordinator.is_admin.is_(True), Coordinator.disabled_at.is_(None))) or 0)


def disable(session: Session, coordinator: Coordinator, now: datetime, *, actor_id: int | None) -> bool:
    """They cannot sign in, their sessions end now and their links stop working. False if already
    disabled. Nobody disables their own sign-in, and the last admin is never disabled."""
    if coordinator.disabled_at is not None:
        return False
    if actor_id is not None and coordinator.id == actor_id:
        raise AccountError("you cannot disable your own sign-in; ask another admin")
    if coordinator.is_admin and active_admins(session) <= 1:
        raise AccountError("this is the last admin; make another admin first")
    coordinator.disabled_at = now
    coordinator.session_version += 1
    session.execute(delete(SignInLink).where(SignInLink.coordinator_id == coordinator.id))
    audit.record(session, actor_id, audit.AuditAction.DISABLE, now, target=audit.Target.COORDINATOR,
                 target_id=coordinator.id)
    return True


def enable(session: Session, coordinator: Coordinator, now: datetime, *, actor_id: int | None) -> bool:
    """Let a disabled coordinator sign in again with their password. False if not disabled."""
    if coordinator.disabled_at is None:
        return False
    coordinator.disabled_at = None
    audit.record(session, actor_id, audit.AuditAction.ENABLE, now, target=audit.Target.COORDINATOR,
                 target_id=coordinator.id)
    return True


def link_owner(session: Session, token: str, now: datetime) -> tuple[SignInLink, Coordinator] | None:
    """The unexpired link with this token and whose it is; None for anything else."""
    if not token or len(token) > 100:
        return None
    link = session.scalar(select(SignInLink).where(SignInLink.token_hash == _hash(token)))
    if link is None or link.expires_at <= now:
        return None
    coordinator = session.get(Coordinator, link.coordinator_id)
    if coordinator is None or coordinator.disabled_at is not None:
        return None
    return link, coordinator


def use_link(session: Session, token: str, password: str, now: datetime) -> Coordinator | None:
    """Set the password through a link, once: the link is deleted, every older session ends.
    None when the link is unknown, expired, already used or its sign-in disabled. The caller has
    checked `password_problem`."""
    found = link_owner(session, token, now)
    if found is None:
        return None
    link, coordinator = found
    # Two tabs posting the same link: only the one whose DELETE removed the row goes on.
    if session.execute(delete(SignInLink).where(SignInLink.id == link.id)).rowcount != 1:  # type: ignore[attr-defined]
        return None
    coordinator.password_hash = generate_password_hash(password)
    coordinator.session_version += 1
    audit.record(session, coordinator.id, audit.AuditAction.PASSWORD_SET, now, target=audit.Target.COORDINATOR,
                 target_id=coordinator.id)
    return coordinator


@dataclass(frozen=True)
class Account:
    """One row of the coordinators page."""

    id: int
    email: str
    is_admin: bool
    state: str  # "active", "invited", "reset pending", "disabled"
    link_expires_at: datetime | None


def accounts(session: Session, cipher: FieldCipher, now: datetime) -> list[Account]:
    links = {cid: (purpose, expires) for cid, purpose, expires in session.execute(
        select(SignInLink.coordinator_id, SignInLink.purpose, SignInLink.expires_at))}
    rows = []
    for c in session.scalars(select(Coordinator).order_by(Coordinator.id)):
        purpose, expires = links.get(c.id, (None, None))
        if c.disabled_at is not None:
            state = "disabled"
        elif c.has_password:
            state = "active"
        elif expires is not None and expires > now:
            state = "invited" if purpose == LinkPurpose.INVITE.value else "reset pending"
        else:
            state = "link expired"
        rows.append(Account(c.id, cipher.decrypt(c.email_token), c.is_admin, state,
                            expires if expires is not None and expires > now else None))
    return rows
