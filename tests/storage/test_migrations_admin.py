"""Upgrading a database that already has coordinators makes the first of them an admin."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from rapidresponse.cli import db_upgrade
from rapidresponse.db import make_engine


def test_the_first_existing_coordinator_becomes_an_admin(tmp_path: Path):
    """An existing network keeps someone who can manage the others: the lowest id becomes admin."""
    from alembic import command
    from alembic.config import Config

    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    root = Path(__file__).resolve().parents[2]
    config = Config(str(root / "alembic.ini"))
    config.set_main_option("script_location", str(root / "migrations"))
    config.attributes.update(database_url=url, configure_logging=False, cipher=None)
    command.upgrade(config, "0008_lead_stop_wipes_member")
    engine = make_engine(url)
    with engine.begin() as conn:
        for n in (1, 2):
            conn.execute(text("INSERT INTO coordinators (email_index, email_token, password_hash, created_at) "
                              "VALUES (:i, :t, 'x', '2026-01-01 00:00:00')"), {"i": f"index{n}", "t": b"token"})
    db_upgrade(url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT id, is_admin FROM coordinators ORDER BY id")).all() == [(1, 1), (2, 0)]
    engine.dispose()
