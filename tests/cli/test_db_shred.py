"""`rapidresponse db shred`: a typed SHRED deletes every incident and message (and members with --members)."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from rapidresponse.audit.models import AuditEvent
from rapidresponse.incidents.models import Incident, ThreadEvent
from rapidresponse.members.models import Member
from rapidresponse.messaging.models import InboundMessage, OutboundMessage
from tests.cli.conftest import sqlite_bytes
from tests.conftest import Phone, add_member
from tests.storage.test_retention import report_and_alert


def counts(svc) -> dict[str, int]:
    with svc.db.session() as session:
        return {model.__name__: int(session.scalar(select(func.count()).select_from(model)))
                for model in (Incident, ThreadEvent, InboundMessage, OutboundMessage, Member)}


@pytest.fixture
def network(client, svc):
    """A responder, an open incident with its alert, a reply and a stranger's HELP."""
    add_member(svc, "+12125550160", roles="responder", trees={"ice": 1})
    report_and_alert(client, svc, "ICE at the bakery on Main", "+12125550161")
    Phone(client, "+12125550160").reply_to("on Main now, 3 agents")
    Phone(client, "+12125550162").reply_to("HELP")
    with svc.db.session() as session:
        return [bytes(t) for t in session.scalars(select(InboundMessage.body_token))]


def test_shred_deletes_incidents_and_messages_and_keeps_members(run, svc, network, monkeypatch):
    """Typing SHRED deletes every incident, thread and message, leaves them nowhere in the file, keeps members."""
    monkeypatch.setattr("sys.stdin", io.StringIO("SHRED\n"))
    result = run("db", "shred")
    assert result.code == 0, result.err
    assert "deleted 1 incident, " in result.out and "compacted" in result.out
    assert counts(svc) == {"Incident": 0, "ThreadEvent": 0, "InboundMessage": 0, "OutboundMessage": 0,
                           "Member": 1}
    if svc.db.is_sqlite:
        on_disk = sqlite_bytes(svc.settings.database_url)
        assert [t[:12] for t in network if t in on_disk] == []
    with svc.db.session() as session:
        shredded = [(e.actor_id, e.action, e.count) for e in session.scalars(select(AuditEvent))]
    assert shredded == [(None, "shred", 1)]  # the command line shredded 1 incident, and the log says so


def test_shred_with_members_deletes_members_too(run, svc, network, monkeypatch):
    """`db shred --members` leaves no member either."""
    monkeypatch.setattr("sys.stdin", io.StringIO("SHRED\n"))
    result = run("db", "shred", "--members")
    assert result.code == 0, result.err
    assert set(counts(svc).values()) == {0}


@pytest.mark.parametrize("typed", ["", "shred please", "yes"])
def test_shred_without_the_typed_word_deletes_nothing(run, svc, network, monkeypatch, typed):
    """Anything but SHRED (or no input at all) deletes nothing and says so."""
    before = counts(svc)
    monkeypatch.setattr("sys.stdin", io.StringIO(typed))
    result = run("db", "shred", "--members")
    assert result.code == 1
    assert "nothing deleted" in result.err
    assert counts(svc) == before


def test_shred_with_key_file_overwrites_and_removes_the_key(run, svc, network, monkeypatch, tmp_path):
    """`db shred --key-file` with DATA_KEY_FILE overwrites the key file and removes it."""
    key_file = tmp_path / "data_key"
    key = str(svc.settings.data_key)
    key_file.write_text(key, encoding="ascii")
    monkeypatch.delenv("DATA_KEY")
    monkeypatch.setenv("DATA_KEY_FILE", str(key_file))
    monkeypatch.setattr("sys.stdin", io.StringIO("SHRED\n"))
    result = run("db", "shred", "--key-file")
    assert result.code == 0, result.err
    assert "overwritten and removed" in result.out
    assert not key_file.exists()
    assert counts(svc)["Incident"] == 0


def test_shred_key_file_without_a_key_file_deletes_nothing(run, svc, network, monkeypatch):
    """--key-file when the key came from DATA_KEY is refused before anything is deleted."""
    before = counts(svc)
    monkeypatch.setattr("sys.stdin", io.StringIO("SHRED\n"))
    result = run("db", "shred", "--key-file")
    assert result.code == 1 and "DATA_KEY_FILE" in result.err
    assert counts(svc) == before
