"""`rapidresponse db upgrade` builds the whole schema, and every model change has its migration."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from rapidresponse.cli import db_upgrade
from rapidresponse.db import Base, import_models, make_engine
from tests.conftest import backends, fresh_postgres


@pytest.fixture(params=backends())
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database with no tables at all: a fresh SQLite file, or PostgreSQL with an empty public schema."""
    if request.param == "postgres":
        url = os.environ["TEST_DATABASE_URL"]
        fresh_postgres(url)
        if url.startswith("postgresql://"):
            url = url.replace("postgresql://", "postgresql+psycopg://", 1)
        return url
    return f"sqlite:///{tmp_path / 'migrated.sqlite3'}"


@pytest.fixture
def engine(empty_database: str) -> Iterator[Engine]:
    engine = make_engine(empty_database)
    yield engine
    engine.dispose()


def differences(engine: Engine) -> list[object]:
    """What Alembic's autogenerate would put in a new migration (empty when migrations match the models)."""
    import_models()
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))


def test_upgrade_creates_every_table(empty_database: str, engine: Engine):
    """After `db upgrade` on an empty database every model's table is there, plus Alembic's version row."""
    import_models()
    db_upgrade(empty_database)
    tables = set(inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    assert "alembic_version" in tables


def test_models_and_migrations_agree(empty_database: str, engine: Engine):
    """No model change is missing a migration: autogenerate finds nothing to add, drop or alter."""
    db_upgrade(empty_database)
    assert differences(engine) == []


def test_upgrade_twice_is_harmless(empty_database: str, engine: Engine):
    """Running `db upgrade` again on an up-to-date database changes nothing and does not fail."""
    db_upgrade(empty_database)
    with engine.connect() as conn:
        before = MigrationContext.configure(conn).get_current_heads()
    db_upgrade(empty_database)
    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_heads() == before
    assert before and differences(engine) == []


def test_the_comparison_notices_a_missing_index(empty_database: str, engine: Engine):
    """The check is not vacuous: a database missing one index the models declare is reported."""
    db_upgrade(empty_database)
    with engine.begin() as conn:
        conn.execute(text("DROP INDEX ix_member_tags_tag"))
    assert [d for d in differences(engine) if d[0] == "add_index"]  # type: ignore[index]
