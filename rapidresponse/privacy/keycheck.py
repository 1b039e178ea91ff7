"""Refusing a wrong DATA_KEY before it does harm.

With the wrong key every member looks like a stranger and a number that texted STOP could be
imported again as active. So the database holds a key check value (privacy/crypto.key_check_value)
and web, worker and CLI compare it with theirs before doing anything; a mismatch stops the process
with one line naming DATA_KEY. A database without a check yet (new, or made before there was
one) gets it from the first process that starts, once an existing token shows the key opens it.
"""

from __future__ import annotations

import hmac

from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from rapidresponse.db import Database, utcnow
from rapidresponse.privacy.crypto import key_check_value, opens_with
from rapidresponse.privacy.models import KeyCheck
from rapidresponse.settings import Settings, SettingsError

ROW = 1
WRONG_KEY = ("DATA_KEY: not the key this database is encrypted with (its key check does not match); "
             "start with the DATA_KEY it was created with")
UNFINISHED_ROTATION = ("DATA_KEY: the database is still under DATA_KEY_PREVIOUS; run `rapidresponse db rotate-key` "
                       "to finish the rotation before starting")


class KeyMismatchError(SettingsError):
    """DATA_KEY does not open this database; str() is the one line to print."""


def check(db: Database, settings: Settings, *, rotating: bool = False) -> None:
    """Return if DATA_KEY is this database's key (or, while `rotating`, DATA_KEY_PREVIOUS is); else raise."""
    if not inspect(db.engine).has_table(KeyCheck.__tablename__):
        return  # never migrated: nothing stored to protect, and the first query asks for `db upgrade`
    current = key_check_value(str(settings.data_key))
    previous = key_check_value(str(settings.data_key_previous)) if settings.data_key_previous else None
    stored = _stored_or_first(db, settings, current, previous)
    if hmac.compare_digest(stored, current):
        return
    if previous is not None and hmac.compare_digest(stored, previous):
        if rotating:
            return
        raise KeyMismatchError(UNFINISHED_ROTATION)
    raise KeyMismatchError(WRONG_KEY)


def record(session: Session, data_key: str) -> None:
    """Make `data_key` the database's key (after a rotation, in the same transaction)."""
    row = session.get(KeyCheck, ROW)
    if row is None:
        session.add(KeyCheck(id=ROW, value=key_check_value(data_key), set_at=utcnow()))
    else:
        row.value, row.set_at = key_check_value(data_key), utcnow()


def _stored_or_first(db: Database, settings: Settings, current: str, previous: str | None) -> str:
    with db.session() as session:
        stored = session.scalar(select(KeyCheck.value).where(KeyCheck.id == ROW))
        if stored is not None:
            return stored
        sample = _any_token(session)
    if sample is None or opens_with(str(settings.data_key), sample):
        first = current
    elif previous is not None and settings.data_key_previous and opens_with(str(settings.data_key_previous), sample):
        first = previous
    else:
        raise KeyMismatchError(WRONG_KEY)
    try:
        with db.session() as session:
            session.add(KeyCheck(id=ROW, value=first, set_at=utcnow()))
    except IntegrityError:  # another process wrote it first: theirs is the one to compare with
        with db.session() as session:
            return session.scalars(select(KeyCheck.value).where(KeyCheck.id == ROW)).one()
    return first


def _any_token(session: Session) -> bytes | None:
    """One stored encrypted value, to learn which key a database without a check was written with."""
    from rapidresponse.incidents.models import Incident
    from rapidresponse.members.models import Member
    from rapidresponse.messaging.models import InboundMessage, OutboundMessage

    for column in (Member.phone_token, InboundMessage.from_token, OutboundMessage.to_token, Incident.text_token):
        token = session.scalar(select(column).where(column.is_not(None)).limit(1))
        if token is not None:
            return bytes(token)
    return None
