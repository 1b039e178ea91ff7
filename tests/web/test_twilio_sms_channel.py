"""CALL ME / LLAMAME and TEXT ME / TEXTO: a member chooses how alerts reach them, by text."""

from __future__ import annotations

import pytest

from rapidresponse.members.models import Member, MemberStatus
from tests.conftest import Phone, add_member, member, row

MEMBER = "+12125550121"
STRANGER = "+12125550122"

CALL_ME = {"en": "OK: alerts will now ring your phone as a call", "es": "Listo: las alertas te llegaran como llamada"}
TEXT_ME = {"en": "OK: alerts will come by text only", "es": "Listo: las alertas te llegaran solo por texto"}


@pytest.mark.parametrize(("language", "word"), [("en", "CALL ME"), ("en", "call me"), ("en", "Call me too"),
                                                ("es", "LLAMAME"), ("es", "llámame"), ("es", "LLAMENME")])
def test_call_me_adds_calls_and_says_so(client, svc, language, word):
    """CALL ME sets the member's channel to both (calls as well as texts), answered in their language."""
    add_member(svc, MEMBER, language=language)
    assert CALL_ME[language] in Phone(client, MEMBER).reply_to(word)
    assert member(svc, MEMBER).channel == "both"


@pytest.mark.parametrize(("language", "word"), [("en", "TEXT ME"), ("en", "no calls"), ("es", "TEXTO"),
                                                ("es", "sin llamadas")])
def test_text_me_stops_calls_and_says_so(client, svc, language, word):
    """TEXT ME sets the channel back to sms, whatever it was, and the reply says texts only."""
    member_id = add_member(svc, MEMBER, language=language)
    with svc.db.session() as session:
        session.get(Member, member_id).channel = "voice"
    assert TEXT_ME[language] in Phone(client, MEMBER).reply_to(word)
    assert member(svc, MEMBER).channel == "sms"


def test_text_me_from_a_landline_marked_number_makes_it_textable_again(client, svc):
    """A number marked as a landline that texts TEXT ME evidently takes texts: the mark goes."""
    member_id = add_member(svc, MEMBER)
    with svc.db.session() as session:
        found = session.get(Member, member_id)
        found.channel, found.undeliverable_code = "voice", 30006
    Phone(client, MEMBER).reply_to("TEXT ME")
    after = row(svc, Member, member_id)
    assert (after.channel, after.undeliverable_code) == ("sms", None)


def test_channel_words_from_a_stranger_change_nothing(client, svc):
    """Someone who is not a member gets the short help, and no member is made."""
    assert "text HELP for info" in Phone(client, STRANGER).reply_to("CALL ME")
    assert member(svc, STRANGER) is None


def test_channel_words_from_a_pending_member_change_nothing(client, svc):
    """A member who has not confirmed yet keeps the default channel."""
    add_member(svc, MEMBER, status=MemberStatus.PENDING)
    Phone(client, MEMBER).reply_to("CALL ME")
    assert member(svc, MEMBER).channel == "sms"
