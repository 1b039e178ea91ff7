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
    assert svc.cipher.decrypt(coordinator.email_token) == "ana@example.org"
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
    """On a terminal the password is asked for twice with getpass; a mismatch is asked again."""
    monkeypatch.setattr("sys.stdin", FakeTerminal())
    answers = iter(["correct horse battery", "correct horse batterY", "correct horse battery",
                    "correct horse battery"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    result = run("coordinators", "create", "ana@example.org")
    assert result.code == 0, result.err
    assert "do not match" in result.err
    [coordinator] = coordinators(svc)
    assert check_password_hash(coordinator.password_hash, "correct horse battery")


def test_terminal_states_the_minimum_first_and_asks_again_when_short(run, svc, monkeypatch):
    """The 12-character minimum is said before the first prompt, and a short one is asked again."""
    monkeypatch.setattr("sys.stdin", FakeTerminal())
    prompts: list[str] = []
    answers = iter(["hunter2", "correct horse battery", "correct horse battery"])

    def getpass(prompt: str = "") -> str:
        prompts.append(prompt)
        return next(answers)

    monkeypatch.setattr("getpass.getpass", getpass)
    result = run("coordinators", "create", "ana@example.org")
    assert result.code == 0, result.err
    assert result.err.startswith("Choose a password of at least 12 characters")
    assert "That is 7 characters; it needs at least 12" in result.err
    assert prompts == ["password: ", "password: ", "again: "]  # never asked to repeat a short one
    assert len(coordinators(svc)) == 1


def test_terminal_gives_up_after_three_tries(run, svc, monkeypatch):
    """Three short or mismatched passwords end the command with a clear error and nothing created."""
    monkeypatch.setattr("sys.stdin", FakeTerminal())
    monkeypatch.setattr("getpass.getpass", lambda prompt="": "short")
    result = run("coordinators", "create", "ana@example.org")
    assert result.code == 1 and "after 3 tries" in result.err
    assert coordinators(svc) == []


def test_no_terminal_and_no_flag_is_refused(run, svc, monkeypatch):
    """Without a terminal to prompt on, the command asks for --password-stdin instead of hanging."""
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery\n"))
    result = run("coordinators", "create", "ana@example.org")
    assert result.code == 1 and "--password-stdin" in result.err


def test_unlock_clears_an_accounts_failed_sign_ins(run, env, svc):
    """`coordinators unlock EMAIL` lets a coordinator locked out by failed sign-ins straight back in."""
    from rapidresponse.console.auth import limiter
    from tests.conftest import testing_app
    from tests.web.test_console_auth import add_coordinator

    add_coordinator(svc, "ana@example.org", "correct horse battery")
    client = testing_app(svc).test_client()
    for _ in range(5):
        client.post("/login", data={"email": "ana@example.org", "password": "wrong"})
    right = {"email": "ana@example.org", "password": "correct horse battery"}
    assert client.post("/login", data=right).status_code == 429
    result = run("coordinators", "unlock", "ANA@example.org")
    assert result.code == 0, result.err
    assert result.out.strip() == "cleared 2 sign-in limits for ana@example.org"
    assert client.post("/login", data=right).status_code == 302
    assert limiter(svc).unlock("ana@example.org") == 0


def test_unlock_says_when_no_coordinator_has_the_email(run, svc):
    """Unlocking an unknown email is not an error, but says so."""
    result = run("coordinators", "unlock", "nobody@example.org")
    assert result.code == 0
    assert result.out.strip() == "cleared 0 sign-in limits for nobody@example.org (no coordinator has this email)"


def test_create_admin(run, svc, monkeypatch):
    """--admin makes an admin (who manages coordinators and members); without it, a coordinator."""
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery\n"))
    result = run("coordinators", "create", "rosa@example.org", "--admin", "--password-stdin")
    assert result.code == 0, result.err
    assert result.out.strip() == "created the admin rosa@example.org"
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery\n"))
    assert run("coordinators", "create", "ana@example.org", "--password-stdin").code == 0
    assert sorted((svc.cipher.decrypt(c.email_token), c.is_admin) for c in coordinators(svc)) == [
        ("ana@example.org", False), ("rosa@example.org", True)]


def test_invite_prints_a_one_time_link(run, svc):
    """`coordinators invite` makes a sign-in with no password and prints the link that sets one."""
    result = run("coordinators", "invite", "Bea@example.org", "--admin")
    assert result.code == 0, result.err
    assert "invited the admin bea@example.org" in result.out
    link = result.out.strip().splitlines()[-1]
    assert link.startswith("https://rr.example.org/welcome?token=")
    [coordinator] = coordinators(svc)
    assert coordinator.is_admin and not coordinator.has_password
    again = run("coordinators", "invite", "bea@example.org")
    assert again.code == 1 and "already has a sign-in" in again.err
    assert run("coordinators", "invite", "nope").code == 1


def test_reset_disable_enable_from_the_command_line(run, svc, monkeypatch):
    """reset-password prints a new link and stops the old password; disable and enable say what they did;
    each is in the audit log as done from the command line."""
    from rapidresponse.audit.models import AuditEvent

    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery\n"))
    run("coordinators", "create", "ana@example.org", "--password-stdin")
    reset = run("coordinators", "reset-password", "ana@example.org")
    assert reset.code == 0 and "/welcome?token=" in reset.out
    assert not coordinators(svc)[0].has_password
    assert run("coordinators", "disable", "ana@example.org").out.strip() == (
        "disabled ana@example.org; their sessions have ended")
    assert "already disabled" in run("coordinators", "disable", "ana@example.org").out
    assert run("coordinators", "reset-password", "ana@example.org").code == 1
    assert run("coordinators", "enable", "ana@example.org").out.strip() == "enabled ana@example.org"
    missing = run("coordinators", "disable", "who@example.org")
    assert missing.code == 1 and "no coordinator who@example.org" in missing.err
    with svc.db.session() as session:
        assert [(e.actor_id, e.action) for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))] == [
            (None, "password_reset"), (None, "disable"), (None, "enable")]
