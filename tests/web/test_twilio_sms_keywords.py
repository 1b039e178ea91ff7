"""Every conversation keyword, in English and Spanish, through the signed webhook.

Members are answered in their own language (member.language); strangers in the language of the
keyword they used, English when the word belongs to no one language (INFO, ICE, STOP).
"""

from __future__ import annotations

import pytest

from tests.conftest import Phone, add_member, member

STRANGER = "+12125550110"
MEMBER = "+12125550111"

PROMPT = {"en": "reply YES to confirm", "es": "responde SI para confirmar"}
WELCOME = {"en": "You're in. Rapid Response", "es": "Listo, ya eres parte de Rapid Response y"}
WELCOME_ZONE = {"en": "You're in for zone {zone}.", "es": "Rapid Response en la zona {zone}."}
ALREADY = {"en": "You're already a member", "es": "Ya eres parte de Rapid Response"}
HELP = {"en": "Rapid Response: alerts for ICE", "es": "Rapid Response: alertas de ICE"}
SHORT_HELP = {"en": "Rapid Response: text HELP for info", "es": "Rapid Response: escribe AYUDA para info"}
LANGUAGE_CHANGED = {
    "en": "OK, you'll get texts in English", "es": "Listo, desde ahora te escribiremos en español",
}
LANGUAGE_UNKNOWN = {"en": "reply LANG EN or LANG ES", "es": "responde IDIOMA ES o IDIOMA EN"}
ZONE_SET = {"en": "Your zone is now {zone}.", "es": "Tu zona ahora es {zone}."}
ZONE_MISSING = {"en": "To set your zone, text ZONE", "es": "Para elegir tu zona, escribe ZONA"}


# --- JOIN / UNIRSE, then YES / SI / SÍ -------------------------------------------------------------

# join text, confirmation, language, zone
JOINS = [
    ("JOIN", "YES", "en", None),
    ("join", "yes", "en", None),
    ("Join!", "Y", "en", None),
    ("JOIN eastside", "YES", "en", "eastside"),
    ("join  East Side ", "Yes.", "en", "east side"),
    ("UNIRSE", "SI", "es", None),
    ("unirse", "SÍ", "es", None),
    ("Unirme", "sí", "es", None),
    ("UNIRSE centro", "Si", "es", "centro"),
    ("Unirse  Centro ", "SÍ!", "es", "centro"),
]


@pytest.mark.parametrize(("join", "confirm", "language", "zone"), JOINS)
def test_join_then_confirm_in_the_keywords_language(client, svc, join, confirm, language, zone):
    """JOIN/UNIRSE asks for a YES/SI in the keyword's language; the confirmation makes an active member."""
    phone = Phone(client, STRANGER)
    assert PROMPT[language] in phone.reply_to(join)
    pending = member(svc, STRANGER)
    assert pending is not None
    assert (pending.status, pending.language, pending.zone) == ("pending", language, zone)
    welcome = phone.reply_to(confirm)
    if zone:
        assert WELCOME_ZONE[language].format(zone=zone) in welcome
    else:
        assert WELCOME[language] in welcome
    joined = member(svc, STRANGER)
    assert joined.status == "active" and joined.consented_at is not None


@pytest.mark.parametrize(("body", "language"), [("JOIN", "en"), ("UNIRSE", "es")])
def test_join_when_already_active_says_so(client, svc, body, language):
    """An active member who texts JOIN again is told they are already in, in their own language."""
    add_member(svc, MEMBER, language=language)
    assert ALREADY[language] in Phone(client, MEMBER).reply_to(body)
    assert member(svc, MEMBER).status == "active"


@pytest.mark.parametrize(("body", "language"), [("JOIN northside", "es"), ("UNIRSE centro", "en")])
def test_join_with_zone_from_active_member_keeps_their_language(client, svc, body, language):
    """JOIN with a zone from an active member updates the zone and answers in the member's language."""
    add_member(svc, MEMBER, language=language)
    assert ALREADY[language] in Phone(client, MEMBER).reply_to(body)
    found = member(svc, MEMBER)
    assert found.zone == body.split()[1] and found.language == language


@pytest.mark.parametrize(("body", "language"), [("JOIN east/side", "en"), ("UNIRSE zona/centro!!", "es")])
def test_join_with_unusable_zone_asks_for_a_valid_one(client, svc, body, language):
    """A zone name with symbols is refused with a hint, and nobody is signed up."""
    assert ZONE_MISSING[language] in Phone(client, STRANGER).reply_to(body)
    assert member(svc, STRANGER) is None


@pytest.mark.parametrize(("body", "language"), [("YES", "en"), ("SI", "es"), ("Sí", "es")])
def test_yes_from_a_stranger_gets_short_help_and_signs_up_nobody(client, svc, body, language):
    """YES/SI from a number that never texted JOIN signs nobody up; it gets the short help."""
    assert SHORT_HELP[language] in Phone(client, STRANGER).reply_to(body)
    assert member(svc, STRANGER) is None


# --- HELP / AYUDA / INFO ---------------------------------------------------------------------------

@pytest.mark.parametrize(("body", "language"), [
    ("HELP", "en"), ("help", "en"), ("Help?", "en"), ("INFO", "en"), ("info", "en"),
    ("AYUDA", "es"), ("ayuda", "es"), ("¿Ayuda?", "es"),
])
def test_help_from_a_stranger_in_the_keywords_language(client, svc, body, language):
    """HELP/INFO/AYUDA answers a stranger with the full help text in the keyword's language."""
    assert HELP[language] in Phone(client, STRANGER).reply_to(body)
    assert member(svc, STRANGER) is None


@pytest.mark.parametrize(("body", "language"), [
    ("HELP", "es"), ("INFO", "es"), ("AYUDA", "en"), ("INFO", "en"), ("AYUDA", "es"),
])
def test_help_for_a_member_in_the_members_language(client, svc, body, language):
    """A member gets help in their own language, whichever help word they used."""
    add_member(svc, MEMBER, language=language)
    assert HELP[language] in Phone(client, MEMBER).reply_to(body)


# --- LANG / IDIOMA ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("body", "chosen"), [
    ("LANG ES", "es"), ("lang es", "es"), ("LANGUAGE SPANISH", "es"), ("LANG EN", "en"),
    ("IDIOMA ES", "es"), ("idioma español", "es"), ("IDIOMA EN", "en"), ("Idioma inglés", "en"),
    ("ESPAÑOL", "es"), ("Espanol", "es"), ("English", "en"), ("SPANISH", "es"),
])
@pytest.mark.parametrize("start", ["en", "es"])
def test_language_change_for_a_member(client, svc, body, chosen, start):
    """LANG/IDIOMA (or the language's name alone) switches the member's language and confirms in it."""
    add_member(svc, MEMBER, language=start)
    assert LANGUAGE_CHANGED[chosen] in Phone(client, MEMBER).reply_to(body)
    assert member(svc, MEMBER).language == chosen


def test_language_then_help_follows_the_new_language(client, svc):
    """After IDIOMA ES, an English member's next HELP comes back in Spanish."""
    add_member(svc, MEMBER, language="en")
    phone = Phone(client, MEMBER)
    phone.reply_to("IDIOMA ES")
    assert HELP["es"] in phone.reply_to("HELP")


@pytest.mark.parametrize(("body", "chosen"), [("LANG ES", "es"), ("IDIOMA EN", "en"), ("ESPAÑOL", "es")])
def test_language_from_a_stranger_answers_in_it_and_stores_nothing(client, svc, body, chosen):
    """A stranger choosing a language gets the short help in it (no promise of future texts: there is
    no member row to remember the choice on, and none is created)."""
    from rapidresponse.i18n import render

    assert Phone(client, STRANGER).reply_to(body) == render("help.short", chosen)
    assert member(svc, STRANGER) is None


def test_strangers_replies_of_every_kind_share_one_daily_cap(client, svc):
    """JOIN, a bad zone and nonsense from one stranger count together: after 3 replies, silence —
    but a bare ICE (maybe someone in danger) is always asked for what and where."""
    phone = Phone(client, STRANGER)
    answered = [phone.reply_to(body) for body in ("JOIN", "JOIN !!!", "blah", "JOIN", "blah", "ICE")]
    assert [bool(text) for text in answered] == [True, True, True, False, False, True]
    assert phone.reply_to("STOP")  # STOP is always confirmed


@pytest.mark.parametrize(("body", "language"), [
    ("LANG", "en"), ("LANG FR", "en"), ("LANGUAGE klingon", "en"), ("IDIOMA", "es"), ("IDIOMA francés", "es"),
])
def test_unknown_language_explains_the_choices(client, svc, body, language):
    """LANG/IDIOMA without a known language lists how to choose, in the keyword's language."""
    assert LANGUAGE_UNKNOWN[language] in Phone(client, STRANGER).reply_to(body)


# --- ZONE / ZONA -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("body", "language", "zone"), [
    ("ZONE eastside", "en", "eastside"),
    ("zone East Side", "en", "east side"),
    ("ZONA centro", "es", "centro"),
    ("Zona  Centro-Norte ", "es", "centro-norte"),
    ("ZONA centro", "en", "centro"),
    ("ZONE northside", "es", "northside"),
])
def test_zone_sets_the_members_zone(client, svc, body, language, zone):
    """ZONE/ZONA sets a member's zone and confirms it in the member's language."""
    add_member(svc, MEMBER, language=language)
    assert ZONE_SET[language].format(zone=zone) in Phone(client, MEMBER).reply_to(body)
    assert member(svc, MEMBER).zone == zone


@pytest.mark.parametrize(("body", "language"), [
    ("ZONE", "en"), ("ZONA", "es"), ("ZONE !!!", "en"), ("ZONA", "en"),
])
def test_zone_without_a_usable_name_asks_for_one(client, svc, body, language):
    """ZONE/ZONA with nothing usable after it explains how to set a zone and changes nothing."""
    add_member(svc, MEMBER, language=language, zone="westside")
    assert ZONE_MISSING[language] in Phone(client, MEMBER).reply_to(body)
    assert member(svc, MEMBER).zone == "westside"


@pytest.mark.parametrize(("body", "language"), [("ZONE eastside", "en"), ("ZONA centro", "es")])
def test_zone_from_a_stranger_gets_short_help(client, svc, body, language):
    """A stranger cannot set a zone; they get the short help and no member row."""
    assert SHORT_HELP[language] in Phone(client, STRANGER).reply_to(body)
    assert member(svc, STRANGER) is None

