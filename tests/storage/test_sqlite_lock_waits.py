"""On SQLite a write that finds the lock taken waits for it (in short steps, not SQLite's own
1-2-5-10-...-ms sleeps) and then lands, once; a lock held past the wait is an error, never a
write lost without saying so."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import text

from rapidresponse import db as storage
from rapidresponse.db import Database


@pytest.fixture
def database(tmp_path: Path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'locks.sqlite3'}")
    with database.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE reports (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
    return database


@contextmanager
def lock_held_by_another_writer(database: Database, *, for_seconds: float | None) -> Iterator[None]:
    """Another process's writer, as a plain sqlite3 connection: it takes the write lock, keeps it
    `for_seconds` (None: until the block ends), then commits a row of its own."""
    released, taken = threading.Event(), threading.Event()

    def run() -> None:
        other = sqlite3.connect(database.engine.url.database, isolation_level=None, timeout=0)
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO reports (body) VALUES ('theirs')")
        taken.set()
        released.wait(for_seconds if for_seconds is not None else 10)
        other.execute("COMMIT")
        other.close()

    holder = threading.Thread(target=run)
    holder.start()
    taken.wait(10)
    try:
        yield
    finally:
        released.set()
        holder.join()


def bodies(database: Database) -> list[str]:
    with database.engine.connect() as conn:
        return [row[0] for row in conn.exec_driver_sql("SELECT body FROM reports ORDER BY id")]


def test_a_write_waits_for_the_lock_and_lands_once(database: Database):
    with lock_held_by_another_writer(database, for_seconds=0.2), database.session() as session:
        session.execute(text("INSERT INTO reports (body) VALUES ('ours')"))  # a transaction's first write waits
    assert bodies(database) == ["theirs", "ours"]


def test_an_autocommit_write_of_many_rows_waits_and_writes_each_row_once(database: Database):
    with lock_held_by_another_writer(database, for_seconds=0.2), \
            database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("INSERT INTO reports (body) VALUES (:body)"), [{"body": f"ours {i}"} for i in range(3)])
    assert bodies(database) == ["theirs", "ours 0", "ours 1", "ours 2"]


def test_a_lock_held_past_the_wait_is_an_error_and_nothing_is_written(database: Database, monkeypatch):
    monkeypatch.setattr(storage, "SQLITE_BUSY_WAIT_SECONDS", 0.05)
    with lock_held_by_another_writer(database, for_seconds=None), \
            pytest.raises(Exception, match="database is locked"), database.session() as session:
        session.execute(text("INSERT INTO reports (body) VALUES ('ours')"))
    assert bodies(database) == ["theirs"]
