"""On SQLite a write that finds the lock taken waits for it (in short steps, not SQLite's own
1-2-5-10-...-ms sleeps) and then lands, once; a lock held past the wait is an error, never a
write lost without saying so."""

from __future__ import annotations

import sqlite3
import threading
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


def hold_the_lock(path: str, released: threading.Event, taken: threading.Event) -> threading.Thread:
    """Another process's writer, as a plain sqlite3 connection: it takes the write lock and keeps it
    until `released` is set, then commits a row of its own."""

    def run() -> None:
        other = sqlite3.connect(path, isolation_level=None, timeout=0)
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO reports (body) VALUES ('theirs')")
        taken.set()
        released.wait(10)
        other.execute("COMMIT")
        other.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def bodies(database: Database) -> list[str]:
    with database.engine.connect() as conn:
        return [row[0] for row in conn.exec_driver_sql("SELECT body FROM reports ORDER BY id")]


def released_soon(released: threading.Event) -> threading.Timer:
    timer = threading.Timer(0.2, released.set)
    timer.start()
    return timer


def test_a_write_waits_for_the_lock_and_lands_once(database: Database):
    path = database.engine.url.database
    released, taken = threading.Event(), threading.Event()
    holder = hold_the_lock(path, released, taken)
    taken.wait(10)
    released_soon(released)
    with database.session() as session:  # a transaction: its first write waits
        session.execute(text("INSERT INTO reports (body) VALUES ('ours')"))
    holder.join()
    assert bodies(database) == ["theirs", "ours"]


def test_an_autocommit_write_of_many_rows_waits_and_writes_each_row_once(database: Database):
    path = database.engine.url.database
    released, taken = threading.Event(), threading.Event()
    holder = hold_the_lock(path, released, taken)
    taken.wait(10)
    released_soon(released)
    with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("INSERT INTO reports (body) VALUES (:body)"), [{"body": f"ours {i}"} for i in range(3)])
    holder.join()
    assert bodies(database) == ["theirs", "ours 0", "ours 1", "ours 2"]


def test_a_lock_held_past_the_wait_is_an_error_and_nothing_is_written(database: Database, monkeypatch):
    monkeypatch.setattr(storage, "SQLITE_BUSY_WAIT_SECONDS", 0.05)
    path = database.engine.url.database
    released, taken = threading.Event(), threading.Event()
    holder = hold_the_lock(path, released, taken)
    taken.wait(10)
    try:
        with pytest.raises(Exception, match="database is locked"):
            with database.session() as session:
                session.execute(text("INSERT INTO reports (body) VALUES ('ours')"))
    finally:
        released.set()
        holder.join()
    assert bodies(database) == ["theirs"]
