"""After a full run (import, report, acknowledgements, replies, a coordinator's sign-in), a copy of the
database says nothing about who is a responder, who is in which tree or layer, or who organises."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from rapidresponse.cli import main
from rapidresponse.db import Base, import_models
from rapidresponse.incidents.models import Incident
from rapidresponse.services import Services
from rapidresponse.settings import Settings
from tests import conftest
from tests.cli.conftest import sqlite_bytes
from tests.conftest import Phone, fresh_services
from tests.storage.test_retention import report_and_alert
from tests.web.test_console_auth import sign_in

TREES = """
default_tree = "raidwatch"

[trees.raidwatch]
keywords = ["RAIDWATCH"]

[[trees.raidwatch.layers]]
name = "sentinel scouts"
verifies = true
quorum = 1
wait_seconds = 600
next_waits_for_confirmation = true

[[trees.raidwatch.layers]]
name = "quick helpers"
quorum = 2
wait_seconds = 600
"""
SCOUT, HELPER_A, HELPER_B, ORGANISER, REPORTER = (
    "+12125550131", "+12125550132", "+12125550133", "+12125550134", "+12125550139")
EMAIL, PASSWORD = "organiser.quinn@example.org", "correct horse battery staple"
PEOPLE = (
    "phone,name,language,zone,roles,trees\n"
    f"{SCOUT},Sam Scout,en,eastside,responder,raidwatch:1\n"
    f"{HELPER_A},Alma Helper,es,eastside,responder,raidwatch:2\n"
    f"{HELPER_B},Bo Helper,en,westside,responder,raidwatch:2\n"
    f"{ORGANISER},Quinn Organiser,en,eastside,coordinator,\n"
)
# What a copy of the database must not say. Role words are checked in every row; in the raw file
# only what its schema does not itself spell (it has a `coordinators` table).
IN_NO_ROW = ["responder", "coordinator", "raidwatch", "sentinel scouts", "quick helpers", EMAIL, "raidwatch:1",
             "raidwatch:2"]
NOWHERE_ON_DISK = [w for w in IN_NO_ROW if w != "coordinator"]


@pytest.fixture
def network(tmp_path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Services, Any]]:
    trees = tmp_path / "trees.toml"
    trees.write_text(TREES, encoding="utf-8")
    env = {**env, "TREES_FILE": str(trees)}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with fresh_services(Settings.from_env(env)) as svc:
        yield svc, conftest.testing_app(svc).test_client()


def as_text(value: object) -> str:
    if isinstance(value, memoryview):
        value = bytes(value)
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


def everything_in_every_table(svc: Services) -> str:
    """Every row of every table, each value as text (bytes as Latin-1), one table after another."""
    import_models()
    lines = []
    with svc.db.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            for row in conn.execute(text(f"SELECT * FROM {table.name}")):  # noqa: S608 - our own table names
                lines.append(" | ".join(as_text(v) for v in row))
    return "\n".join(lines)


def test_a_copy_of_the_database_names_no_role_tree_layer_or_email(network, monkeypatch, capsys, database_url):
    """Import, report, YES, CONFIRM, replies and a sign-in later, no row (nor the SQLite file and its
    WAL) holds a role, a tree or layer name, a membership or a coordinator's email in clear."""
    svc, client = network
    people = Path(svc.settings.trees_file).with_name("people.csv")
    people.write_text(PEOPLE, encoding="utf-8")
    assert main(["members", "import", str(people)]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["coordinators", "create", EMAIL, "--password-stdin"]) == 0
    capsys.readouterr()

    incident_id = report_and_alert(client, svc, "RAIDWATCH 5th and Main, two vans", REPORTER)
    with svc.db.session() as session:
        code = session.get(Incident, incident_id).code
    scout = Phone(client, SCOUT)
    assert code in scout.reply_to("YES")
    scout.reply_to(f"CONFIRM {code}")
    for helper in (HELPER_A, HELPER_B):
        Phone(client, helper).reply_to("YES")
    Phone(client, HELPER_A).reply_to("at the corner, agents at the door")
    Phone(client, REPORTER).reply_to("they are leaving now")

    assert sign_in(client, EMAIL, PASSWORD).status_code == 302
    page = client.get(f"/incidents/{incident_id}").get_data(as_text=True)
    assert "responder 2 (…0132)" in page or "responder 3 (…0132)" in page  # resolved for the coordinator

    with svc.db.session() as session:
        assert session.scalars(select(Incident.id)).all() == [incident_id]
    rows = everything_in_every_table(svc).lower()
    for word in IN_NO_ROW:
        assert word.lower() not in rows, f"{word!r} is readable in a table"
    if database_url.startswith("sqlite"):
        raw = sqlite_bytes(database_url).lower()
        for word in NOWHERE_ON_DISK:
            assert word.lower().encode() not in raw, f"{word!r} is in the SQLite file or its WAL"
