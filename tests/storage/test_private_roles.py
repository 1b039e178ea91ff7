"""Roles, tree layers and coordinator emails: unreadable without DATA_KEY, still found by index with it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from cryptography.fernet import Fernet
from sqlalchemy import func, select, text
from werkzeug.security import generate_password_hash

from rapidresponse.cli import db_upgrade, main
from rapidresponse.console.auth import authenticate
from rapidresponse.console.models import new_coordinator
from rapidresponse.db import Database
from rapidresponse.escalation.service import layer_recipients
from rapidresponse.incidents.models import Incident
from rapidresponse.members import registry
from rapidresponse.members.models import Member, MemberTag
from rapidresponse.privacy.crypto import FieldCipher
from rapidresponse.services import build_services
from rapidresponse.settings import Settings
from tests.conftest import add_member, backends, fresh_postgres

ROOT = Path(__file__).resolve().parent.parent.parent


def ice_layer_1(svc, session):
    incident = Incident(code="K7", text_token=b"", reporter_index="", reporter_token=b"", plan_token=b"")
    return layer_recipients(svc, session, incident, "ice", svc.trees.get("ice").layers[0])


def test_members_look_alike_without_the_key(svc):
    """A plain member and a coordinator in three trees have as many tag rows and as long a token."""
    plain = add_member(svc, "+12125550101")
    busy = add_member(svc, "+12125550102", roles="responder;coordinator",
                      trees={"ice": 1, "copwatch": 2, "eviction": 1})
    with svc.db.session() as session:
        rows = dict(session.execute(select(MemberTag.member_id, func.count()).group_by(MemberTag.member_id)).all())
        tokens = dict(session.execute(select(Member.id, Member.places_token)).all())
    assert rows[plain] == rows[busy] == registry.TAG_SLOTS
    assert len(tokens[plain]) == len(tokens[busy])


def test_who_is_in_a_layer_is_asked_by_keyed_tag(svc):
    """Layer planning finds exactly the layer's members through their tag, and a changed place moves them."""
    add_member(svc, "+12125550101", trees={"ice": 1})
    add_member(svc, "+12125550102", trees={"ice": 2})
    moved = add_member(svc, "+12125550103", trees={"ice": 1, "copwatch": 1})
    with svc.db.session() as session:
        assert {svc.phone_of(r.phone_token) for r in ice_layer_1(svc, session)} == {"+12125550101", "+12125550103"}
        registry.set_places(svc.cipher, session.get(Member, moved), trees={"copwatch": 1})
    with svc.db.session() as session:
        assert {svc.phone_of(r.phone_token) for r in ice_layer_1(svc, session)} == {"+12125550101"}
        tag = registry.layer_tag(svc.cipher, "ice", 1)
        assert session.scalar(select(func.count()).select_from(MemberTag).where(MemberTag.tag == tag)) == 1


def test_layer_planning_uses_the_tag_index(svc, database_url):
    """The layer look-up is an index search on member_tags.tag, not a scan of every member."""
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's query plan is the one checked here")
    with svc.db.engine.connect() as conn:
        plan = " ".join(str(row[-1]) for row in conn.execute(text(
            "EXPLAIN QUERY PLAN SELECT members.id FROM members JOIN member_tags ON members.id = "
            "member_tags.member_id WHERE member_tags.tag = 'x' AND members.status = 'active'")))
    assert "INDEX ix_member_tags_tag" in plan  # (tag) or (tag, member id): an index search either way


def test_coordinators_sign_in_by_the_blind_index_of_their_email(svc):
    """The email is stored encrypted; sign-in finds it by keyed hash, in any case, and a wrong key finds nothing."""
    with svc.db.session() as session:
        session.add(new_coordinator(svc.cipher, "Ana@Example.org", generate_password_hash("correct horse battery")))
    with svc.db.session() as session:
        found = authenticate(session, svc.cipher, " ana@example.ORG", "correct horse battery")
        assert found is not None and svc.cipher.decrypt(found.email_token) == "ana@example.org"
        other = FieldCipher(Fernet.generate_key().decode())
        assert authenticate(session, other, "ana@example.org", "correct horse battery") is None


def test_rotation_recomputes_tags_and_email_index(svc, env, monkeypatch, capsys):
    """After `db rotate-key` the new key alone finds the layer's members and signs the coordinator in."""
    add_member(svc, "+12125550101", roles="responder", trees={"ice": 1})
    with svc.db.session() as session:
        session.add(new_coordinator(svc.cipher, "ana@example.org", generate_password_hash("correct horse battery")))
    new = Fernet.generate_key().decode()
    for key, value in {**env, "DATA_KEY": new, "DATA_KEY_PREVIOUS": env["DATA_KEY"]}.items():
        monkeypatch.setenv(key, value)
    assert main(["db", "rotate-key"]) == 0
    capsys.readouterr()
    rotated = build_services(Settings.from_env({**env, "DATA_KEY": new}))
    try:
        with rotated.db.session() as session:
            assert [rotated.phone_of(r.phone_token) for r in ice_layer_1(rotated, session)] == ["+12125550101"]
            assert authenticate(session, rotated.cipher, "ana@example.org", "correct horse battery") is not None
            found = registry.find_by_phone(session, rotated.cipher, "+12125550101")
            assert registry.has_role(rotated.cipher, found, registry.Role.RESPONDER)
    finally:
        rotated.redis.close()
        rotated.db.engine.dispose()


@pytest.fixture(params=backends())
def old_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database at the schema before roles were private (revision 0003)."""
    if request.param == "postgres":
        url = os.environ["TEST_DATABASE_URL"].replace("postgresql://", "postgresql+psycopg://", 1)
        fresh_postgres(os.environ["TEST_DATABASE_URL"])
    else:
        url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes.update(database_url=url, configure_logging=False)
    command.upgrade(config, "0003_h8b_key_check")
    return url


def test_upgrade_moves_clear_roles_trees_and_emails_into_tags(old_database):
    """`db upgrade` turns an older database's clear roles, layers and emails into tokens and tags."""
    cipher = FieldCipher(Fernet.generate_key().decode())
    db = Database(old_database)
    try:
        with db.engine.begin() as conn:
            conn.execute(text("INSERT INTO members (id, phone_index, phone_token, language, roles, status, created_at) "
                              "VALUES (1, :i, :t, 'en', 'coordinator,member,responder', 'active', :now)"),
                         {"i": cipher.blind_index("+12125550101"), "t": cipher.encrypt("+12125550101"),
                          "now": "2026-11-30 10:00:00+00:00"})
            conn.execute(text("INSERT INTO tree_memberships (member_id, tree, layer) VALUES (1, 'ice', 2)"))
            conn.execute(text("INSERT INTO coordinators (email, password_hash, session_version, created_at) "
                              "VALUES ('Ana@Example.org', :h, 0, '2026-11-30 10:00:00+00:00')"),
                         {"h": generate_password_hash("correct horse battery")})
        with pytest.raises(RuntimeError, match="DATA_KEY"):
            db_upgrade(old_database)  # without the key nothing can be converted
        db_upgrade(old_database, cipher)
        with db.session() as session:
            found = session.get(Member, 1)
            assert registry.places(cipher, found) == registry.Places(
                frozenset({"coordinator", "member", "responder"}), {"ice": 2})
            assert registry.in_layers(cipher, found, "ice", [2])
            assert len(found.tags) == registry.TAG_SLOTS
            assert authenticate(session, cipher, "ana@example.org", "correct horse battery") is not None
        with db.engine.connect() as conn:
            assert "email" not in {c for c in conn.execute(text("SELECT * FROM coordinators")).keys()}
    finally:
        db.engine.dispose()

