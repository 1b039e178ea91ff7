"""Rotating DATA_KEY: after `db rotate-key`, the new key alone reads everything and finds everyone."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from rapidresponse.cli import main
from rapidresponse.incidents.models import Incident
from rapidresponse.members import registry
from rapidresponse.members.models import Member
from rapidresponse.messaging.models import InboundMessage
from rapidresponse.privacy.crypto import DecryptionError, FieldCipher
from rapidresponse.services import build_services
from rapidresponse.settings import Settings
from tests.conftest import Phone, add_member

MEMBER = "+12125550175"


def test_rotate_key_re_encrypts_everything_and_reindexes_numbers(client, svc, env, monkeypatch, capsys):
    """Old key out, new key in: members are still found by number, texts and reports still read."""
    add_member(svc, "+12125550176", roles="responder", trees={"ice": 1})
    phone = Phone(client, MEMBER)
    phone.reply_to("JOIN eastside")
    phone.reply_to("YES")
    phone.reply_to("ICE 5th and Main, 2 vans")
    old_key, new_key = env["DATA_KEY"], Fernet.generate_key().decode()
    for key, value in {**env, "DATA_KEY": new_key, "DATA_KEY_PREVIOUS": old_key}.items():
        monkeypatch.setenv(key, value)
    assert main(["db", "rotate-key"]) == 0
    assert "members" in capsys.readouterr().out

    rotated = build_services(Settings.from_env({**env, "DATA_KEY": new_key}))
    try:
        with rotated.db.session() as session:
            member = registry.find_by_phone(session, rotated.cipher, MEMBER)
            assert member is not None and member.zone == "eastside"
            bodies = {rotated.cipher.decrypt(m.body_token) for m in session.scalars(select(InboundMessage))}
            assert bodies == {"JOIN eastside", "YES", "ICE 5th and Main, 2 vans"}
            report = session.scalars(select(Incident)).one()
            assert rotated.cipher.decrypt(report.text_token) == "5th and Main, 2 vans"
            assert rotated.cipher.decrypt(report.reporter_token) == MEMBER
            token = session.scalars(select(Member.phone_token).where(Member.id == member.id)).one()
        with pytest.raises(DecryptionError):
            FieldCipher(old_key).decrypt(token)  # the old key opens nothing any more
    finally:
        rotated.redis.close()
        rotated.db.engine.dispose()


def test_rotate_key_refuses_without_the_old_key(svc, env, monkeypatch, capsys):
    """Without DATA_KEY_PREVIOUS there is nothing to rotate from: one line naming it, exit 1."""
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("DATA_KEY_PREVIOUS", raising=False)
    assert main(["db", "rotate-key"]) == 1
    assert capsys.readouterr().err.startswith("rapidresponse: DATA_KEY_PREVIOUS:")
