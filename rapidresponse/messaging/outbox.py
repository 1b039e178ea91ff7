"""Send intents: a text (or an alert call) is recorded here, with a dedupe key, before any provider
is called. A call is a row like a text, with channel `voice` and the words it speaks as its body."""

from __future__ import annotations

import functools
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar, cast

from sqlalchemy import Insert, Table, bindparam, inspect, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, make_transient_to_detached

from rapidresponse.db import unindexed
from rapidresponse.messaging.models import Channel, DeliveryStatus, OutboundMessage, Purpose
from rapidresponse.messaging.segments import segments
from rapidresponse.privacy.crypto import FieldCipher


@dataclass(frozen=True)
class SealedNumber:
    """A member's number as stored: its blind index and encrypted token, reused as they are
    (planning a 10,000-member alert need not decrypt and re-encrypt every number)."""

    index: str
    token: bytes


@dataclass(frozen=True)
class Text:
    """One text (or, with channel VOICE, one call speaking `body`) to one number, not yet recorded."""

    to: str | SealedNumber  # E.164, or a member's stored number
    body: str
    purpose: Purpose
    dedupe_key: str
    member_id: int | None = None
    incident_id: int | None = None
    layer: int | None = None
    broadcast_id: int | None = None
    valid_until: datetime | None = None
    channel: Channel = Channel.SMS


def insert_ignoring_duplicates(session: Session, model: Any, rows: list[dict[str, Any]], *,
                               core: bool = False) -> None:
    """INSERT ... ON CONFLICT DO NOTHING on SQLite and PostgreSQL alike.

    With `core`, the rows (keyed by column name) go straight to the model's table on the session's
    connection: the same statement, without the ORM's bulk-insert bookkeeping per row (a tenth of
    the workers' CPU per text when a layer is recorded)."""
    if not rows:
        return
    stmt = insert_ignoring(session.get_bind().dialect.name, model.__table__ if core else model)
    if core:
        session.connection().execute(stmt, rows)
    else:
        session.execute(stmt, rows)


@functools.lru_cache(maxsize=64)
def insert_ignoring(dialect: str, target: Any) -> Insert:
    """INSERT ... ON CONFLICT DO NOTHING into a model or table, built once per dialect and target."""
    if dialect == "postgresql":
        return postgresql.insert(target).on_conflict_do_nothing()
    return sqlite.insert(target).on_conflict_do_nothing()


Model = TypeVar("Model")


def insert_unless_taken(session: Session, model: type[Model], row: dict[str, Any]) -> Model | None:
    """One row inserted and returned as the ORM object, or None when a unique column is taken:
    INSERT ... ON CONFLICT DO NOTHING RETURNING, one round trip, and nothing to roll back (a
    flush that fails needs a savepoint around it: two more round trips on PostgreSQL).

    The statement is built once per table and dialect and run on the session's connection; the
    row it returns becomes the object, attached to the session as if it had just been loaded
    (make_transient_to_detached). Through the ORM's insert the same round trip cost about 0.5 ms
    of CPU, most of it rebuilding the statement's VALUES; so it is about 0.1 ms."""
    stmt, columns = _insert_returning(session.get_bind().dialect.name, cast(Hashable, model))
    returned = session.connection().execute(stmt, row).first()
    if returned is None:
        return None
    found = model(**{key: returned._mapping[name] for key, name in columns})
    make_transient_to_detached(found)
    session.add(found)
    return found


@functools.cache
def _insert_returning(dialect: str, model: Any) -> tuple[Insert, list[tuple[str, str]]]:
    """The model's table's INSERT ... ON CONFLICT DO NOTHING RETURNING every column, and which
    attribute each returned column fills: both worked out once per model."""
    mapper = inspect(model)
    table = mapper.local_table
    columns = [(attr.key, attr.columns[0].name) for attr in mapper.column_attrs]
    return insert_ignoring(dialect, table).returning(*table.c), columns


def record(session: Session, cipher: FieldCipher, texts: Iterable[Text], now: datetime,
           status: DeliveryStatus = DeliveryStatus.PENDING) -> list[int]:
    """Record send intents; a dedupe key already recorded is left as it is.

    Returns the ids of the given texts that are still pending, in the order given — a retried
    caller gets back the same ids, so it enqueues the same work and nothing is sent twice.
    """
    texts = list(texts)
    # An alert's body is the same for every member of a language: encrypt it once per call.
    body_tokens: dict[str, bytes] = {}
    for t in texts:
        if t.body not in body_tokens:
            body_tokens[t.body] = cipher.encrypt(t.body)
    segment_counts: dict[str, int] = {}
    rows = [_row(cipher, t, body_tokens[t.body], segment_counts, now, status) for t in texts]
    for start in range(0, len(rows), 500):
        insert_ignoring_duplicates(session, OutboundMessage, rows[start : start + 500], core=True)
    if status != DeliveryStatus.PENDING:
        return []
    return pending_ids(session, [t.dedupe_key for t in texts])


def record_one(session: Session, cipher: FieldCipher, text: Text, now: datetime, status: DeliveryStatus) -> int:
    """One send intent recorded, and its id whatever its status: INSERT ... ON CONFLICT DO NOTHING
    RETURNING id, one round trip where record() and a look-up by dedupe key take two (a reply
    answered in TwiML needs its id for its status callbacks). A key already recorded gives that row's id."""
    conn = session.connection()
    row = _row(cipher, text, cipher.encrypt(text.body), {}, now, status)
    found = conn.scalar(_insert_returning_id(session.get_bind().dialect.name), row)
    if found is None:
        found = conn.scalar(_ID_BY_KEY, {"key": text.dedupe_key})
    return int(found)


_OUTBOX = cast(Table, OutboundMessage.__table__)
_ID_BY_KEY = select(_OUTBOX.c.id).where(_OUTBOX.c.dedupe_key == bindparam("key"))


@functools.cache
def _insert_returning_id(dialect: str) -> Insert:
    return insert_ignoring(dialect, _OUTBOX).returning(_OUTBOX.c.id)


def _row(cipher: FieldCipher, t: Text, body_token: bytes, segment_counts: dict[str, int], now: datetime,
         status: DeliveryStatus) -> dict[str, Any]:
    """The outbox row of one text, its body already encrypted."""
    return {
        "dedupe_key": t.dedupe_key,
        "member_id": t.member_id,
        "to_index": t.to.index if isinstance(t.to, SealedNumber) else cipher.blind_index(t.to),
        "to_token": t.to.token if isinstance(t.to, SealedNumber) else cipher.encrypt(t.to),
        "body_token": body_token,
        "purpose": t.purpose.value,
        "incident_id": t.incident_id,
        "layer": t.layer,
        "broadcast_id": t.broadcast_id,
        # A call costs one slot on the call rate limit, however long it speaks.
        "segments": 1 if t.channel is Channel.VOICE else _segments(segment_counts, t.body),
        "channel": t.channel.value,
        "status": status.value,
        "created_at": now,
        "status_at": now,
        "valid_until": t.valid_until,
        "attempts": 0,
    }


def _segments(memo: dict[str, int], body: str) -> int:
    """segments() once per distinct body (`setdefault` would compute it for every row)."""
    if body not in memo:
        memo[body] = segments(body)
    return memo[body]


def pending_ids(session: Session, dedupe_keys: Sequence[str]) -> list[int]:
    """The ids of these dedupe keys' texts still pending, in the order given: each chunk is 500
    look-ups in the unique dedupe-key index, never a scan of every pending text."""
    order = {key: i for i, key in enumerate(dedupe_keys)}
    found: list[tuple[int, str]] = []
    for start in range(0, len(dedupe_keys), 500):
        chunk = dedupe_keys[start : start + 500]
        found.extend(
            (row.id, row.dedupe_key)
            for row in session.execute(
                select(OutboundMessage.id, OutboundMessage.dedupe_key).where(
                    OutboundMessage.dedupe_key.in_(chunk),
                    unindexed(OutboundMessage.status) == DeliveryStatus.PENDING.value,
                )
            )
        )
    found.sort(key=lambda pair: order[pair[1]])
    return [i for i, _ in found]
