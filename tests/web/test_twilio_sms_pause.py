"""PAUSE / PAUSA, BACK / VUELVO and HOURS / HORAS by text: what members are told, in their language."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from rapidresponse.members.models import Member
from tests.conftest import Phone, add_member, member

MEMBER = "+12125550131"
STRANGER = "+12125550132"


@pytest.mark.parametrize(("language", "text", "said", "hours"), [
    ("en", "PAUSE", "Paused: no alerts until", 24),
    ("en", "pause 12h", "Paused: no alerts until", 12),
    ("en", "PAUSE 3d", "Paused: no alerts until", 72),
    ("es", "PAUSA", "En pausa: sin alertas hasta el", 24),
    ("es", "PAUSA 2 días", "En pausa: sin alertas hasta el", 48),
    ("en", "PAUSE 45d", "A pause lasts 30 days at most", 720),
    ("es", "PAUSA 2 semanas", "En pausa: sin alertas hasta el", 336),
])  # fmt: skip
def test_pause_says_until_when(client, svc, language, text, said, hours):
    """The pause starts now, lasts the span asked for (24 h by default, 30 days at most), and the reply
    says until when in the network's time."""
    add_member(svc, MEMBER, language=language, roles="responder", trees={"ice": 1})
    before = datetime.now(UTC)
    reply = Phone(client, MEMBER).reply_to(text)
    assert said in reply
    until = member(svc, MEMBER).paused_until
    assert before + timedelta(hours=hours) <= until <= datetime.now(UTC) + timedelta(hours=hours)
    local = until.astimezone(svc.trees.zone_info)
    assert f"{local.hour:02d}:{local.minute:02d}" in reply


@pytest.mark.parametrize(("language", "text", "said"), [
    ("en", "PAUSE tomorrow", "text PAUSE (24 hours), PAUSE 12h or PAUSE 3d"),
    ("es", "PAUSA hasta el lunes", "escribe PAUSA (24 horas), PAUSA 12h o PAUSA 3d"),
])  # fmt: skip
def test_a_span_that_cannot_be_read_is_explained_and_nothing_paused(client, svc, language, text, said):
    add_member(svc, MEMBER, language=language)
    assert said in Phone(client, MEMBER).reply_to(text)
    assert member(svc, MEMBER).paused_until is None


@pytest.mark.parametrize(("language", "word", "said"), [
    ("en", "BACK", "Welcome back"), ("es", "VUELVO", "tenerte de vuelta"),
])  # fmt: skip
def test_back_ends_a_pause_early(client, svc, language, word, said):
    add_member(svc, MEMBER, language=language)
    phone = Phone(client, MEMBER)
    phone.reply_to("PAUSE 3d")
    assert said in phone.reply_to(word)
    assert member(svc, MEMBER).paused_until is None


@pytest.mark.parametrize(("language", "word", "said"), [
    ("en", "BACK", "You're not paused"), ("es", "VUELVO", "No tienes pausa"),
])  # fmt: skip
def test_back_without_a_pause_says_so(client, svc, language, word, said):
    add_member(svc, MEMBER, language=language)
    assert said in Phone(client, MEMBER).reply_to(word)


@pytest.mark.parametrize(("language", "text", "said", "window"), [
    ("en", "HOURS 6-14", "Your duty hours are now 06:00-14:00", (360, 840)),
    ("es", "HORAS 22-6", "Tus horas de turno ahora son 22:00-06:00", (1320, 360)),
    ("en", "HOURS morning", "To set your duty hours, text HOURS", (None, None)),
    ("es", "HORAS", "Para elegir tus horas de turno", (None, None)),
])  # fmt: skip
def test_hours_set_a_members_duty_window(client, svc, language, text, said, window):
    add_member(svc, MEMBER, language=language)
    assert said in Phone(client, MEMBER).reply_to(text)
    found = member(svc, MEMBER)
    assert (found.duty_start, found.duty_end) == window


def test_hours_all_clears_them(client, svc):
    member_id = add_member(svc, MEMBER)
    with svc.db.session() as session:
        session.get(Member, member_id).duty_start, session.get(Member, member_id).duty_end = 60, 120
    assert "cleared" in Phone(client, MEMBER).reply_to("HOURS ALL")
    assert member(svc, MEMBER).duty_start is None


def test_a_stranger_who_texts_pause_gets_the_short_help(client, svc):
    """PAUSE, BACK and HOURS are for members; anyone else gets the capped short help."""
    for text in ("PAUSE 3d", "BACK", "HOURS 6-14"):
        assert "text HELP for info" in Phone(client, STRANGER).reply_to(text)
    assert member(svc, STRANGER) is None
