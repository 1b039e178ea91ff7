"""The key check: a DATA_KEY that did not encrypt this database is refused before it does harm."""

from __future__ import annotations

import io

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import delete

from rapidresponse import create_app
from rapidresponse.cli import main
from rapidresponse.members.models import MemberStatus
from rapidresponse.privacy import keycheck
from rapidresponse.privacy.models import KeyCheck
from rapidresponse.services import build_services
from rapidresponse.settings import Settings
from tests.conftest import add_member, member

NUMBER = "+12125550180"


def use_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], **overrides: str) -> None:
    for key, value in {**env, **overrides}.items():
        monkeypatch.setenv(key, value)


def test_a_wrong_key_cannot_re_import_someone_who_texted_stop(svc, env, monkeypatch, capsys, tmp_path):
    """With the wrong DATA_KEY, `members import` stops with one line and a STOP stays honoured."""
    add_member(svc, NUMBER, status=MemberStatus.OPTED_OUT)
    keycheck.check(svc.db, svc.settings)  # the first start writes the check
    csv = tmp_path / "people.csv"
    csv.write_text(f"phone,name\n{NUMBER},Ana\n", encoding="utf-8")
    use_env(monkeypatch, env, DATA_KEY=Fernet.generate_key().decode())
    with pytest.raises(SystemExit) as stopped:
        main(["members", "import", str(csv)])
    assert stopped.value.code == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("rapidresponse: DATA_KEY:")
    found = member(svc, NUMBER)
    assert found is not None and found.status == MemberStatus.OPTED_OUT.value


def test_a_database_without_a_check_learns_it_only_from_the_right_key(svc, env):
    """An older database (no check yet) refuses a key its tokens do not open, and records the right one."""
    add_member(svc, NUMBER)
    with svc.db.session() as session:
        session.execute(delete(KeyCheck))
    wrong = build_services(Settings.from_env({**env, "DATA_KEY": Fernet.generate_key().decode()}))
    try:
        with pytest.raises(keycheck.KeyMismatchError, match="^DATA_KEY:"):
            keycheck.check(wrong.db, wrong.settings)
    finally:
        wrong.db.engine.dispose()
        wrong.redis.close()
    keycheck.check(svc.db, svc.settings)
    with svc.db.session() as session:
        assert session.get(KeyCheck, keycheck.ROW) is not None


def test_web_refuses_an_unfinished_rotation_and_accepts_the_new_key_after_it(svc, env, monkeypatch, capsys):
    """New DATA_KEY + DATA_KEY_PREVIOUS before `db rotate-key`: the web refuses; after it, the new key
    alone starts and the old one is refused."""
    add_member(svc, NUMBER, roles="responder", trees={"ice": 1})
    keycheck.check(svc.db, svc.settings)
    old, new = env["DATA_KEY"], Fernet.generate_key().decode()
    rotating = Settings.from_env({**env, "DATA_KEY": new, "DATA_KEY_PREVIOUS": old})
    with pytest.raises(keycheck.KeyMismatchError, match="rotate-key"):
        create_app(rotating)

    use_env(monkeypatch, env, DATA_KEY=new, DATA_KEY_PREVIOUS=old)
    assert main(["db", "rotate-key"]) == 0
    capsys.readouterr()

    started = create_app(Settings.from_env({**env, "DATA_KEY": new}))
    started.extensions["rapidresponse"].db.engine.dispose()
    started.extensions["rapidresponse"].redis.close()
    with pytest.raises(keycheck.KeyMismatchError, match="^DATA_KEY: not the key"):
        create_app(Settings.from_env(env))


def test_a_panic_shred_runs_even_with_a_wrong_key(svc, env, monkeypatch, capsys):
    """`db shred` reads nothing, so a lost or wrong DATA_KEY must not stand between a raid and it."""
    add_member(svc, NUMBER)
    keycheck.check(svc.db, svc.settings)
    use_env(monkeypatch, env, DATA_KEY=Fernet.generate_key().decode())
    monkeypatch.setattr("sys.stdin", io.StringIO("SHRED\n"))
    assert main(["db", "shred", "--members"]) == 0, capsys.readouterr().err
    assert member(svc, NUMBER) is None
