"""SQLite's WAL is copied into the database file by the sweep, not by whichever commit takes it
past 1,000 pages: that copy and its fsync took 20-400 ms here, and the webhook whose commit
triggered it waited as long."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import text

from rapidresponse.db import WAL_AUTOCHECKPOINT_PAGES
from rapidresponse.jobs import tasks


@pytest.fixture
def sqlite_svc(svc):
    if not svc.db.is_sqlite:
        pytest.skip("SQLite's WAL")
    return svc


def write_pages(svc, pages: int) -> None:
    with svc.db.engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS filler (id INTEGER PRIMARY KEY, b BLOB)"))
    for _ in range(pages // 50):
        with svc.db.engine.begin() as conn:  # one commit per 50 pages, as requests would commit
            conn.execute(text("INSERT INTO filler (b) VALUES (:b)"), [{"b": os.urandom(4000)}] * 50)


def test_commits_past_a_thousand_pages_leave_the_wal_to_the_sweep(sqlite_svc, monkeypatch):
    svc = sqlite_svc
    database = svc.settings.database_url.removeprefix("sqlite:///")
    with svc.db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == WAL_AUTOCHECKPOINT_PAGES
        page = conn.exec_driver_sql("PRAGMA page_size").scalar()
    write_pages(svc, 1500)
    # No commit copied the WAL back on its way: the database file holds none of the new pages yet.
    assert os.path.getsize(database) < 500 * page
    monkeypatch.setattr(tasks, "process_services", lambda: svc)
    tasks.sweep()
    assert os.path.getsize(database) > 1400 * page
