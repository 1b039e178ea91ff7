"""Message catalogs: fallback, placeholders that match across languages, and one SMS segment each."""

from __future__ import annotations

from string import Formatter

import pytest

from rapidresponse.i18n import LANGUAGES, MissingMessageError, language_name, render
from rapidresponse.i18n.catalog import messages
from rapidresponse.messaging.segments import segments

# Messages that carry someone's free text, or that must explain the whole service, may take two.
ALLOWED_TWO_SEGMENTS = frozenset({"alert.text", "help.text", "drill.alert", "drill.started", "drill.started_nobody",
                                  "debrief.ask", "campaign.summary", "campaign.done_hint"})
# A campaign's ask carries the coordinator's script and targets, like a broadcast: as long as they wrote.
UNLIMITED = frozenset({"campaign.ask"})
# Spoken on calls, never texted: no segment limit.
SPOKEN_SECTIONS = ("voice.", "hotline.", "campaign_voice.")

TYPICAL_TEXT = {
    "en": "2 vans at 5th & Main, agents at the door",
    "es": "2 camionetas en 5a y Main, agentes en la puerta",
}


def typical_params(language: str) -> dict[str, str]:
    """Values a caller would typically pass; the labels are themselves rendered messages."""
    return {
        "code": "K7",
        "zone": "eastside",
        "count": "2",
        "quorum": "3",
        "codes": "K7, AB12",
        "example": "K7",
        "who": "Ana",
        "text": TYPICAL_TEXT[language],
        "where": render("where.zone", language, zone="eastside"),
        "tree_label": render("tree.ice", language),
        "verified_label": render("alert.unverified", language),
        "letters": "K, 7",
        "digit": "1",
        "minutes": "5",
        "status": render("hotline.status_reported", language),
        "until": "Wed Dec 30, 18:20",
        "hours": "06:00-14:00",
        "layer": "ice rapid responders",
        "on_duty": "1",
        "weekday": "Wed", "month": "Dec", "day": "30", "time": "18:20",
        "kind": render("afteraction.kind_drill", language),
        "duration": "25 min",
        "before": "7 min",
        "layers": "L1 2/2/2/1, L2 12/11/8/5",
        "number": "1",
        "alerted": "12",
        "delivered": "11",
        "answered": "8",
        "yes": "5",
        "title": "End solitary at Elm County",
        "targets": "Warden's office +13125550170",
        "script": "I am calling about the people held in solitary. Please end it today.",
        "line": "I am calling about the people held in solitary.",
        "opens": "09:00 on 02 Dec",
        "asked": "412", "bridged": "87", "done": "40", "talked": "21", "voicemail": "15", "hung_up": "4",
    }


def placeholders(template: str) -> set[str]:
    return {field for _, field, _, _ in Formatter().parse(template) if field is not None}


REQUIRED_KEYS = [
    "join.confirm_prompt", "join.welcome", "join.welcome_zone", "join.already",
    "stop.confirmed", "start.confirmed", "help.text", "help.short",
    "language.changed", "language.unknown", "language.name",
    "zone.set", "zone.missing", "report.received", "report.needs_text", "welcome.imported",
    "alert.text", "alert.verified", "alert.unverified", "alert.reported",
    "ack.thanks", "ack.thanks_covered", "ack.late", "ack.declined", "ack.no_open", "ack.ambiguous",
    "incident.unknown_code", "incident.confirmed_ack", "incident.false_alarm_ack", "incident.resolved_ack",
    "incident.stand_down", "incident.resolved", "incident.covered", "incident.not_allowed",
    "relay.text", "responder.noted",
    "tree.ice", "tree.eviction", "tree.copwatch", "tree.report", "where.zone", "where.unknown",
]  # fmt: skip

ALL_MESSAGES = [(language, key) for language in LANGUAGES for key in sorted(messages(language))]
TEXTED_MESSAGES = [(language, key) for language, key in ALL_MESSAGES if not key.startswith(SPOKEN_SECTIONS)]


def test_languages_come_from_catalog_files() -> None:
    """English and Spanish are present, English first."""
    assert LANGUAGES[0] == "en"
    assert set(LANGUAGES) >= {"en", "es"}


@pytest.mark.parametrize("key", REQUIRED_KEYS)
def test_required_key_exists_in_english(key: str) -> None:
    """Every key the services use is in the English catalog."""
    assert key in messages("en")


@pytest.mark.parametrize("language", [lang for lang in LANGUAGES if lang != "en"])
def test_translation_has_the_same_keys_and_placeholders(language: str) -> None:
    """Every English key exists in the translation with exactly the same placeholders, and no extras."""
    english, other = messages("en"), messages(language)
    assert sorted(other) == sorted(english)
    for key, template in english.items():
        assert placeholders(other[key]) == placeholders(template), key


@pytest.mark.parametrize(("language", "key"), TEXTED_MESSAGES)
def test_message_fits_one_segment(language: str, key: str) -> None:
    """Rendered with typical values, each message is one SMS segment (two for the allow-listed)."""
    text = render(key, language, **typical_params(language))
    if key in UNLIMITED:
        return
    limit = 2 if key in ALLOWED_TWO_SEGMENTS else 1
    assert segments(text) <= limit, f"{language} {key}: {text!r}"


@pytest.mark.parametrize(("language", "key"), ALL_MESSAGES)
def test_message_is_not_blank(language: str, key: str) -> None:
    """No message renders to empty or padded text."""
    text = render(key, language, **typical_params(language))
    assert text and text == text.strip()


@pytest.mark.parametrize(
    ("key", "language", "params", "expected"),
    [
        ("alert.text", "en", {"code": "K7", "tree_label": "ICE activity", "where": "eastside",
                              "text": "2 vans at 5th & Main", "verified_label": "UNVERIFIED"},
         "[K7] ICE activity, eastside: 2 vans at 5th & Main (UNVERIFIED). Can you go? Reply YES or NO."),
        ("incident.stand_down", "en", {"code": "K7"}, "[K7] Stand down: false alarm. Thank you."),
        ("incident.resolved", "en", {"code": "K7"}, "[K7] Resolved. Thank you for showing up."),
        ("relay.text", "es", {"code": "K7", "who": "Ana", "text": "ya se fueron"}, "[K7] Ana: ya se fueron"),
        ("tree.ice", "es", {}, "Actividad de ICE"),
        ("alert.verified", "es", {}, "VERIFICADO"),
    ],
)  # fmt: skip
def test_render_fills_placeholders(key: str, language: str, params: dict[str, str], expected: str) -> None:
    """Placeholders are filled from keyword arguments."""
    assert render(key, language, **params) == expected


@pytest.mark.parametrize("language", ["fr", "", "xx-YY"])
def test_unknown_language_falls_back_to_english(language: str) -> None:
    """A language without a catalog gets the English message."""
    assert render("ack.no_open", language) == render("ack.no_open", "en")


@pytest.mark.parametrize("language", ["ES", "es-MX", "es_US", " es "])
def test_language_tags_are_lenient(language: str) -> None:
    """Regional and upper-case tags select the base catalog."""
    assert render("tree.ice", language) == "Actividad de ICE"


def test_each_language_confirms_in_itself() -> None:
    """language.changed is written in the language just chosen."""
    assert "English" in render("language.changed", "en")
    assert "español" in render("language.changed", "es")


def test_missing_key_in_translation_falls_back_to_english(monkeypatch: pytest.MonkeyPatch) -> None:
    """A key not yet translated is sent in English rather than not at all."""
    from rapidresponse.i18n import catalog

    loaded = catalog._load()
    spanish = {k: v for k, v in loaded["es"].items() if k != "ack.no_open"}
    monkeypatch.setattr(catalog, "_load", lambda: {**loaded, "es": spanish})
    assert render("ack.no_open", "es") == render("ack.no_open", "en")


def test_missing_key_everywhere_raises() -> None:
    """A key in no catalog is a programming error."""
    with pytest.raises(MissingMessageError):
        render("no.such.key", "es")


def test_missing_placeholder_raises_key_error() -> None:
    """Forgetting a parameter fails loudly instead of sending '{code}' to a member."""
    with pytest.raises(KeyError):
        render("report.received", "en")


def test_language_name() -> None:
    """Each language is named in itself; unknown codes fall back to English."""
    assert language_name("en") == "English"
    assert language_name("es") == "Español"
    assert language_name("fr") == "English"


@pytest.mark.parametrize(
    ("language", "keywords"),
    [
        ("en", {"join.confirm_prompt": ["YES", "STOP"], "stop.confirmed": ["START"],
                "language.unknown": ["LANG EN", "LANG ES"], "help.short": ["HELP", "ICE", "REPORT"]}),
        ("es", {"join.confirm_prompt": ["SI", "PARAR"], "stop.confirmed": ["START"],
                "language.unknown": ["IDIOMA ES", "IDIOMA EN"],
                "help.short": ["AYUDA", "MIGRA", "REPORTAR"]}),
    ],
)  # fmt: skip
def test_messages_name_keywords_the_parser_accepts(language: str, keywords: dict[str, list[str]]) -> None:
    """Messages tell people the keywords of their own language, and those keywords parse."""
    from rapidresponse.keywords import Action, parse

    for key, words in keywords.items():
        text = render(key, language, **typical_params(language))
        for word in words:
            assert word in text, (key, word)
            assert parse(word).action is not Action.OTHER, word
