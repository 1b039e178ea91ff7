"""Coordinators: the people who sign in to the web console.

An organiser's email is their identity: stored only encrypted, and found at sign-in by its
blind index (keyed like the numbers', so a list of guessed emails cannot be matched without
DATA_KEY).
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum

from sqlalchemy import Boolean, ForeignKey, Integer, LargeBinary, String, false
from sqlalchemy.orm import Mapped, mapped_column

from rapidresponse.db import Base, UTCDateTime, utcnow
from rapidresponse.privacy.crypto import FieldCipher


class Coordinator(Base):
    __tablename__ = "coordinators"

    id: Mapped[int] = mapped_column(primary_key=True)
    email_index: Mapped[str] = mapped_column(String(64), unique=True)
    email_token: Mapped[bytes] = mapped_column(LargeBinary)
    password_hash: Mapped[str] = mapped_column(String(255))
    # Part of every session cookie; signing out bumps it, so a copied cookie stops working too.
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # A coordinator's own phone (optional): calling the hotline from it opens the coordinator menu.
    phone_index: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    phone_token: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Admins manage coordinators and members and may export; the others run incidents. A flag, not
    # a role name, so no row spells "coordinator" (a copy of the database must not say who organises).
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Set by an admin: a disabled coordinator cannot sign in, and their sessions ended when it was set.
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    @property
    def has_password(self) -> bool:
        """False while an invitation or a password reset waits for its link to be used."""
        return bool(self.password_hash)

    @property
    def role(self) -> CoordinatorRole:
        return CoordinatorRole.ADMIN if self.is_admin else CoordinatorRole.COORDINATOR


class CoordinatorRole(str, Enum):
    ADMIN = "admin"
    COORDINATOR = "coordinator"


class LinkPurpose(str, Enum):
    INVITE = "invite"
    RESET = "reset"


class SignInLink(Base):
    """A one-time link to choose a password: an invitation, or a reset made by an admin.

    Only a SHA-256 of the link's token is stored (the token itself is shown once, to the admin or
    on the command line); the row is deleted when the link is used, and a newer link for the same
    coordinator replaces it."""

    __tablename__ = "sign_in_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    coordinator_id: Mapped[int] = mapped_column(ForeignKey("coordinators.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(16))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def normalize_email(email: str) -> str:
    return email.strip().lower()


def email_index(cipher: FieldCipher, email: str) -> str:
    """The blind index of an email (normalized first; its own prefix keeps it apart from numbers')."""
    return cipher.blind_index("email:" + normalize_email(email))


def console_phone_index(cipher: FieldCipher, phone: str) -> str:
    """A coordinator's own phone (E.164), indexed apart from members' numbers: a copy of the
    database cannot tell which member also signs in to the console."""
    return cipher.blind_index("console-phone:" + phone)


def new_coordinator(cipher: FieldCipher, email: str, password_hash: str, *, admin: bool = False) -> Coordinator:
    email = normalize_email(email)
    return Coordinator(email_index=email_index(cipher, email), email_token=cipher.encrypt(email),
                       password_hash=password_hash, is_admin=admin)
