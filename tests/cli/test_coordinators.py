"""coordinators create: a hashed password, at least 12 characters, one sign-in per email."""

from __future__ import annotations

import io

from sqlalchemy import select
from werkzeug.security import check_password_hash

from rapidresponse.console.models import Coordinator


def coordinators(svc) -> list[Coordinator]:
    with svc.db.session() as session:
        return list(session.scalars(select(Coordinator)).all())


def test_create_from_stdin_stores_a_hash(run, svc, monkeypatch):
    """--password-stdin reads one line; the email is lower-cased and only a hash is stored."""
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery\n"))
    result = run("coordinators", "create", " Ana@Example.ORG ", "--password-stdin")
    assert result.code == 0, result.err
    assert result.out.strip() == "created the coordinator ana@example.org"
    [coordinator] = coordinators(svc)
    assert coordinator.email == "ana@example.org"
    assert "correct horse" not in coordinator.password_hash
    assert check_password_hash(coordinator.password_hash, "correct horse battery")


def test_duplicate_email_is_refused(run, svc, monkeypatch):
    """A second coordinator with the same email (in any case) is a clear error, exit 1."""
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery\n"))
    assert run("coordinators", "create", "ana@example.org", "--password-stdin").code == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("another long password\n"))
    again = run("coordinators", "create", "ANA@example.org", "--password-stdin")
    assert again.code == 1
    assert again.err.strip() == "rapidresponse: a coordinator ana@example.org already exists"
    assert len(coordinators(svc)) == 1


def test_short_password_and_bad_email_are_refused(run, svc, monkeypatch):
    """Fewer than 12 characters, or an email without a domain, creates nothing."""
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    short = run("coordinators", "create", "ana@example.org", "--password-stdin")
    assert short.code == 1 and "at least 12 characters" in short.err
    bad = run("coordinators", "create", "ana@localhost", "--password-stdin")
    assert bad.code == 1 and bad.err.startswith("rapidresponse: EMAIL:")
    assert coordinators(svc) == []


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_prompts_twice_and_must_match(run, svc, monkeypatch):
    """On a terminal the password is asked for twice with getpass; a mismatch creates nothing."""
    monkeypatch.setattr("sys.stdin", FakeTerminal())
    answers = iter(["correct horse battery", "correct horse batterY"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    mismatch = run("coordinators", "create", "ana@example.org")
    assert mismatch.code == 1 and "do not match" in mismatch.err
    answers = iter(["correct horse battery", "correct horse battery"])
    assert run("coordinators", "create", "ana@example.org").code == 0
    assert len(coordinators(svc)) == 1


def test_no_terminal_and_no_flag_is_refused(run, svc, monkeypatch):
    """Without a terminal to prompt on, the command asks for --password-stdin instead of hanging."""
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery\n"))
    result = run("coordinators", "create", "ana@example.org")
    assert result.code == 1 and "--password-stdin" in result.err
