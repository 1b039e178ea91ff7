"""STOP keeps only what honouring it needs: the number's blind index, the status and when."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from rapidresponse.members import registry
from rapidresponse.members.models import Member, MemberTag, Role
from tests.conftest import Phone, add_member, member

RESPONDER = "+12125550145"
DELETED = {"en": "We deleted your name, number, zone and roles", "es": "Borramos tu nombre, teléfono, zona y funciones"}


def tags_of(svc, member_id: int) -> set[str]:
    with svc.db.session() as session:
        return set(session.scalars(select(MemberTag.tag).where(MemberTag.member_id == member_id)))


@pytest.mark.parametrize(("word", "language"), [("STOP", "en"), ("PARAR", "es")])
def test_stop_wipes_name_number_roles_zone_and_tree_places(client, svc, word, language):
    """After STOP the member row holds the blind index, status and when, and the reply says what went."""
    member_id = add_member(svc, RESPONDER, language=language, zone="eastside", roles="responder,coordinator",
                           trees={"ice": 1, "eviction": 2})
    with svc.db.session() as session:
        session.get(Member, member_id).name_token = svc.cipher.encrypt("Ana")
    tag_rows = len(tags_of(svc, member_id))
    reply = Phone(client, RESPONDER).reply_to(word)
    assert DELETED[language] in reply
    found = member(svc, RESPONDER)
    assert found.id == member_id and found.phone_index == svc.cipher.blind_index(RESPONDER)
    assert (found.status, found.phone_token, found.name_token, found.zone) == ("opted_out", None, None, None)
    assert found.opted_out_at is not None
    places = registry.places(svc.cipher, found)
    assert places.roles == frozenset({"member"}) and places.trees == {}
    real = {registry.layer_tag(svc.cipher, "ice", 1), registry.layer_tag(svc.cipher, "eviction", 2),
            registry.role_tag(svc.cipher, Role.RESPONDER), registry.role_tag(svc.cipher, Role.COORDINATOR)}
    tags = tags_of(svc, member_id)
    assert not tags & real
    assert len(tags) == tag_rows  # the wipe itself is not visible in the row count


def test_start_after_the_wipe_brings_the_number_back_without_old_places(client, svc):
    """Back with START, the member can be texted again (the number is stored anew), as a plain member."""
    add_member(svc, RESPONDER, roles="responder", trees={"ice": 1})
    phone = Phone(client, RESPONDER)
    phone.reply_to("STOP")
    assert "ask your coordinator" in phone.reply_to("START")
    found = member(svc, RESPONDER)
    assert found.status == "active" and svc.cipher.decrypt(found.phone_token) == RESPONDER
    places = registry.places(svc.cipher, found)
    assert places.roles == frozenset({"member"}) and places.trees == {}


def test_a_strangers_stop_keeps_no_number_either(client, svc):
    """A stranger's STOP is remembered by the blind index alone."""
    Phone(client, "+12125550146").reply_to("STOP")
    found = member(svc, "+12125550146")
    assert found.status == "opted_out" and found.phone_token is None
