"""Engine and sessions: plain SQLAlchemy 2, so workers and the CLI need no Flask."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, DateTime, Engine, create_engine, event
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, InstrumentedAttribute, Session, sessionmaker
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator

# Every table's id is an INTEGER column: 32-bit on PostgreSQL. An id from outside (a URL, a
# callback's ?m=) beyond this cannot exist, and must be refused before it reaches a query.
MAX_ID = 2**31 - 1


def parse_id(raw: str | None) -> int | None:
    """An id from outside as an int, or None if it is not one of ours (ASCII digits, 1..MAX_ID)."""
    if not raw or len(raw) > 10 or not raw.isascii() or not raw.isdigit():
        return None
    value = int(raw)
    return value if 1 <= value <= MAX_ID else None


def utcnow() -> datetime:
    return datetime.now(UTC)


class _Unindexed(FunctionElement[Any]):
    inherit_cache = True
    name = "unindexed"


def unindexed(column: ColumnElement[Any] | InstrumentedAttribute[Any]) -> ColumnElement[Any]:
    """`column` (a text column), written so that no index on it is used for the condition it appears in.

    `WHERE dedupe_key IN (500 keys) AND status = 'pending'` must look the 500 keys up in their
    unique index; SQLite (no statistics) prefers the status index instead and scans every pending
    row, once per chunk: quadratic in the layer. SQLite's documented way out is a unary `+`;
    PostgreSQL's is an expression (`status || ''`). The values compared are the same."""
    element = _Unindexed(column)
    element.type = column.type
    return element  # type: ignore[return-value]


@compiles(_Unindexed)
def _unindexed_default(element: _Unindexed, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


@compiles(_Unindexed, "sqlite")
def _unindexed_sqlite(element: _Unindexed, compiler: SQLCompiler, **kw: Any) -> str:
    return "+" + compiler.process(element.clauses, **kw)


@compiles(_Unindexed, "postgresql")
def _unindexed_postgresql(element: _Unindexed, compiler: SQLCompiler, **kw: Any) -> str:
    return "(" + compiler.process(element.clauses, **kw) + " || '')"


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the zone otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    # A chunk of rows mostly holds one moment many times over (every text of a layer's chunk is
    # created, stamped and valid until the same instants; a claim reads one validity per alert), and
    # converting it, to SQLite's text above all, was about a fourteenth of the workers' own CPU per
    # text. So each processor remembers the last value it converted: the same datetime object (bind)
    # or an equal stored value (result) is converted once. A datetime is immutable and the pair is
    # swapped in one assignment, so threads sharing a statement at most convert a value again.
    def bind_processor(self, dialect: Any) -> Any:
        process = super().bind_processor(dialect)
        assert process is not None  # process_bind_param is ours
        last: list[tuple[Any, Any]] = [(None, None)]

        def remembered(value: Any) -> Any:
            seen, done = last[0]
            if value is seen and value is not None:
                return done
            done = process(value)
            last[0] = (value, done)
            return done

        return remembered

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        process = super().result_processor(dialect, coltype)
        assert process is not None  # process_result_value is ours
        last: list[tuple[Any, Any]] = [(None, None)]

        def remembered(value: Any) -> Any:
            seen, done = last[0]
            if value is not None and type(value) is type(seen) and value == seen:
                return done
            done = process(value)
            last[0] = (value, done)
            return done

        return remembered

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


def import_models() -> None:
    """Import every model module so Base.metadata is complete (Alembic, create_all)."""
    from rapidresponse.audit import models as _audit  # noqa: F401
    from rapidresponse.broadcasts import models as _broadcasts  # noqa: F401
    from rapidresponse.campaigns import models as _campaigns  # noqa: F401
    from rapidresponse.console import models as _console  # noqa: F401
    from rapidresponse.debriefs import models as _debriefs  # noqa: F401
    from rapidresponse.duty import models as _duty  # noqa: F401
    from rapidresponse.hotline import models as _hotline  # noqa: F401
    from rapidresponse.incidents import models as _incidents  # noqa: F401
    from rapidresponse.members import models as _members  # noqa: F401
    from rapidresponse.messaging import models as _messaging  # noqa: F401
    from rapidresponse.privacy import models as _privacy  # noqa: F401


WAL_SIZE_LIMIT = 4 * 1024 * 1024
# Checkpoints (copying the WAL into the database file, then an fsync) are the sweep's work
# (Database.checkpoint, every few seconds), not that of whichever request's commit takes the WAL
# past SQLite's default 1,000 pages: measured on this 2-core machine, one took 20-400 ms, and the
# webhook whose commit triggered it waited as long. This many pages (40 MB) is the safety net for
# a database with no worker sweeping it.
WAL_AUTOCHECKPOINT_PAGES = 10_000


# SQLite's own wait for a lock another connection holds (its busy handler) sleeps 1, 2, 5, 10,
# 15, 20, 25, 25, 25, 50 ms... between tries: a writer that finds the lock taken for 3 ms waits 8,
# one that misses it twice more waits 33, 53, 78 ms. Measured under the hotline bench (SQLite,
# 200 callers), the waits of single-row writes clustered at exactly those sums (8.4, 18.5, 33.6,
# 54, 79, 104, 330 ms) while no transaction held the lock longer than 70 ms and most under 5.
# So SQLite is asked never to wait (timeout 0), and the wait is here: tries every 0.5-2 ms for
# as long as SQLite would have waited. Only SQLITE_BUSY is tried again, which SQLite returns
# before the statement changed anything (a stale snapshot, SQLITE_BUSY_SNAPSHOT, is not retried).
SQLITE_BUSY_WAIT_SECONDS = 30.0
_SQLITE_PAUSES = (0.0005, 0.001, 0.002)


def _patiently(attempt: Any) -> Any:
    deadline = 0.0
    tries = 0
    while True:
        try:
            return attempt()
        except sqlite3.OperationalError as exc:
            if getattr(exc, "sqlite_errorcode", None) != sqlite3.SQLITE_BUSY:
                raise
            now = time.monotonic()
            if not deadline:
                deadline = now + SQLITE_BUSY_WAIT_SECONDS
            elif now >= deadline:
                raise
        time.sleep(_SQLITE_PAUSES[min(tries, len(_SQLITE_PAUSES) - 1)])
        tries += 1


class _PatientCursor(sqlite3.Cursor):
    def execute(self, sql: str, parameters: Any = (), /) -> _PatientCursor:
        return _patiently(lambda: super(_PatientCursor, self).execute(sql, parameters))  # type: ignore[no-any-return]

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> _PatientCursor:
        rows = seq_of_parameters if isinstance(seq_of_parameters, list) else list(seq_of_parameters)
        connection = self.connection
        if connection.isolation_level is not None or connection.in_transaction:
            # In a transaction the first row takes the write lock (or waits for it): a retry
            # repeats nothing. After it, no row can find the lock taken.
            return _patiently(lambda: super(_PatientCursor, self).executemany(sql, rows))  # type: ignore[no-any-return]
        # Autocommit: each row would commit alone, and a retry after the third would repeat two.
        # One transaction, its lock taken first, so nothing in it waits.
        self.execute("BEGIN IMMEDIATE")
        try:
            super().executemany(sql, rows)
        except BaseException:
            connection.rollback()
            raise
        _patiently(connection.commit)
        return self


class _PatientConnection(sqlite3.Connection):
    """sqlite3's connection whose cursors wait for a lock in short steps (see _patiently)."""

    def cursor(self, factory: Any = None) -> Any:  # type: ignore[override]
        return super().cursor(factory or _PatientCursor)

    def commit(self) -> None:
        _patiently(super().commit)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 0, "check_same_thread": False,
                                                  "factory": _PatientConnection})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # WAL lets the web process read while a worker writes; foreign keys are off by default.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=0")  # the wait is _patiently's
            # A deleted row is overwritten with zeros, not just unlinked: a copied file must not
            # still hold what retention or `db shred` removed.
            cur.execute("PRAGMA secure_delete=ON")
            # After each checkpoint the WAL is cut back to this size, so old page images (the
            # rows as they were) do not linger in its tail.
            cur.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
            cur.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


class Database:
    """One engine and its session factory."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._autocommit = sessionmaker(self.engine.execution_options(isolation_level="AUTOCOMMIT"),
                                        expire_on_commit=False)

    @contextmanager
    def session(self, conn: Connection | None = None) -> Iterator[Session]:
        """A unit of work: commits on success, rolls back on error. With `conn` (not in a
        transaction), on that connection: its own transaction there, the connection left open."""
        session = self.sessions(bind=conn) if conn is not None else self.sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """A pooled connection for Core statements, no ORM Session (`with conn.begin():` for a
        transaction): a statement or two that load no objects cost about half what they cost in a
        session (its set-up, transaction bookkeeping and close), and a session(conn) after them on
        the same connection saves a second checkout from the pool."""
        with self.engine.connect() as conn:
            yield conn

    @contextmanager
    def autocommit_on(self, conn: Connection) -> Iterator[Session]:
        """autocommit_session() on `conn` (from connection(), not in a transaction), which goes
        back to transactions afterwards: statements safe on their own, then a session(conn), on one
        checkout from the pool (on PostgreSQL, one pre-ping fewer)."""
        conn.execution_options(isolation_level="AUTOCOMMIT")
        try:
            with self.session(conn) as session:
                yield session
        finally:
            conn.execution_options(isolation_level=conn.default_isolation_level)

    @contextmanager
    def autocommit_session(self) -> Iterator[Session]:
        """A session whose every statement commits on its own, for work that needs no transaction
        around its statements: reads, and single statements each safe on its own (an insert that
        does nothing when the row is there, an update of one row). No BEGIN and no COMMIT: on
        PostgreSQL two round trips fewer for each (a hotline step's reads and its one write)."""
        session = self._autocommit()
        try:
            yield session
        finally:
            session.close()

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def checkpoint(self) -> None:
        """Copy what the WAL holds into the database file, waiting for no reader or writer
        (PASSIVE): the sweep's, so that no request's commit pays for it. SQLite only."""
        if not self.is_sqlite:
            return
        with self.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()

    def truncate_log(self) -> bool:
        """After deleting personal data: copy the WAL into the database file and empty it, so the
        deleted rows' old page images are gone from disk too. SQLite only (PostgreSQL: see the
        README on VACUUM). False when another connection kept it from completing."""
        if not self.is_sqlite:
            return True
        with self.engine.connect() as conn:
            # This checkpoint waits (in SQLite's busy handler) for writers to finish and readers to
            # move on; it is rare (purge, shred), so SQLite's own wait is the right one here.
            conn.exec_driver_sql(f"PRAGMA busy_timeout={int(SQLITE_BUSY_WAIT_SECONDS * 1000)}")
            try:
                busy, _log, _done = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
            finally:
                conn.exec_driver_sql("PRAGMA busy_timeout=0")
        return not busy

    def compact(self) -> None:
        """Rebuild the database file without free pages (VACUUM), then empty the WAL. On
        PostgreSQL, VACUUM FULL rewrites every table into new files and returns the old ones."""
        if self.is_sqlite:
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM")
            self.truncate_log()
            return
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM FULL")

    def create_all(self) -> None:
        """Create tables without Alembic (tests only; real databases use migrations)."""
        import_models()
        Base.metadata.create_all(self.engine)
