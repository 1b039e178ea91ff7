"""Inbound text -> Command: every keyword in both languages, codes, and bodies built to break it."""

from __future__ import annotations

import random

import pytest

from rapidresponse.keywords import DEFAULT_REPORT_WORDS, Action, Command, normalize, parse
from rapidresponse.keywords.vocab import LANGUAGE_NAMES, NEUTRAL, REPORT_WORDS, VOCABULARY

# (text, action, language_hint)
ENGLISH = [
    ("JOIN", Action.JOIN, "en"),
    ("YES", Action.YES, "en"),
    ("y", Action.YES, "en"),
    ("START", Action.START, None),
    ("unstop", Action.START, "en"),
    ("STOP", Action.STOP, None),
    ("stopall", Action.STOP, "en"),
    ("Unsubscribe", Action.STOP, "en"),
    ("cancel", Action.STOP, "en"),
    ("END", Action.STOP, "en"),
    ("quit", Action.STOP, "en"),
    ("REVOKE", Action.STOP, "en"),
    ("optout", Action.STOP, "en"),
    ("HELP", Action.HELP, "en"),
    ("info", Action.HELP, None),
    ("LANG ES", Action.LANGUAGE, "en"),
    ("ZONE eastside", Action.ZONE, "en"),
    ("REPORT vans on 5th", Action.REPORT, "en"),
    ("EVICTION at 12 Oak St", Action.REPORT, "en"),
    ("ICE at 5th & Main", Action.REPORT, None),
    ("copwatch 3rd and Pine", Action.REPORT, None),
    ("1", Action.ACK, None),
    ("OMW", Action.ACK, "en"),
    ("on my way", Action.ACK, "en"),
    ("NO", Action.DECLINE, None),
    ("2", Action.DECLINE, None),
    ("CONFIRM K7", Action.CONFIRM, "en"),
    ("FALSE K7", Action.FALSE_ALARM, "en"),
    ("false alarm K7", Action.FALSE_ALARM, "en"),
    ("RESOLVE K7", Action.RESOLVE, "en"),
    ("resolved K7", Action.RESOLVE, "en"),
    ("CALL ME", Action.CALL_ME, "en"),
    ("call me!", Action.CALL_ME, "en"),
    ("Call me too", Action.CALL_ME, "en"),
    ("TEXT ME", Action.TEXT_ME, "en"),
    ("text only", Action.TEXT_ME, "en"),
    ("no calls", Action.TEXT_ME, "en"),
    ("DRILL ice eastside", Action.DRILL, "en"),
    ("drill eviction", Action.DRILL, "en"),
]

SPANISH = [
    ("UNIRSE", Action.JOIN, "es"),
    ("SI", Action.YES, "es"),
    ("sí", Action.YES, "es"),
    ("SÍ", Action.YES, "es"),
    ("s", Action.YES, "es"),
    ("PARAR", Action.STOP, "es"),
    ("alto", Action.STOP, "es"),
    ("AYUDA", Action.HELP, "es"),
    ("IDIOMA EN", Action.LANGUAGE, "es"),
    ("ZONA centro", Action.ZONE, "es"),
    ("REPORTAR hay 3 camionetas", Action.REPORT, "es"),
    ("MIGRA en la 5a", Action.REPORT, "es"),
    ("redada en el mercado", Action.REPORT, "es"),
    ("DESALOJO en la calle Oak", Action.REPORT, "es"),
    ("policía en la esquina", Action.REPORT, "es"),
    ("VOY", Action.ACK, "es"),
    ("en camino", Action.ACK, "es"),
    ("no", Action.DECLINE, None),
    ("CONFIRMAR K7", Action.CONFIRM, "es"),
    ("confirmado K7", Action.CONFIRM, "es"),
    ("FALSA K7", Action.FALSE_ALARM, "es"),
    ("falso k7", Action.FALSE_ALARM, "es"),
    ("RESUELTO K7", Action.RESOLVE, "es"),
    ("LLAMAME", Action.CALL_ME, "es"),
    ("llámame", Action.CALL_ME, "es"),
    ("Llámenme", Action.CALL_ME, "es"),
    ("TEXTO", Action.TEXT_ME, "es"),
    ("SIMULACRO migra centro", Action.DRILL, "es"),
    ("simulacro desalojo", Action.DRILL, "es"),
    ("solo texto", Action.TEXT_ME, "es"),
    ("sin llamadas", Action.TEXT_ME, "es"),
]


@pytest.mark.parametrize(("text", "action", "hint"), ENGLISH)
def test_english_keywords(text: str, action: Action, hint: str | None) -> None:
    """Each English keyword parses to its action, with an 'en' hint unless the word is neutral."""
    command = parse(text)
    assert command.action is action
    assert command.language_hint == hint
    assert command.raw == text


@pytest.mark.parametrize(("text", "action", "hint"), SPANISH)
def test_spanish_keywords(text: str, action: Action, hint: str | None) -> None:
    """Each Spanish keyword parses to its action, with an 'es' hint unless the word is neutral."""
    command = parse(text)
    assert command.action is action
    assert command.language_hint == hint


@pytest.mark.parametrize(
    ("language", "action", "phrase"),
    [
        (language, action, phrase)
        for language, table in VOCABULARY.items()
        for action, phrases in table.items()
        for phrase in phrases
    ],
)
def test_every_vocabulary_phrase_parses_alone(language: str, action: str, phrase: str) -> None:
    """Every phrase in vocab.py, sent alone, parses to its action and language."""
    command = parse(phrase.lower())
    assert command.action is Action(action)
    assert command.language_hint == (None if language == NEUTRAL else language)


@pytest.mark.parametrize("text", ["call me at 5, 2 vans outside", "TEXT ME the address", "llamame ya hay migra",
                                  "texto de la vecina: migra en la 5a", "K7 CALL ME"])
def test_channel_words_count_only_as_the_whole_message(text: str) -> None:
    """CALL ME / TEXT ME with more words (or after a code) is a message, never a change of channel."""
    assert parse(text).action not in (Action.CALL_ME, Action.TEXT_ME)


def test_vocabulary_is_normalized_and_unambiguous() -> None:
    """Phrases are written normalized, and no phrase means two different actions."""
    seen: dict[str, str] = {}
    for table in VOCABULARY.values():
        for action, phrases in table.items():
            for phrase in phrases:
                assert normalize(phrase) == phrase
                assert seen.setdefault(phrase, action) == action
    for names in (*LANGUAGE_NAMES.values(), *REPORT_WORDS.values()):
        assert all(normalize(word) == word for word in names)


def test_default_report_words() -> None:
    """The default report words map to the three trees."""
    assert DEFAULT_REPORT_WORDS == {
        "ICE": "ice", "MIGRA": "ice", "REDADA": "ice",
        "EVICTION": "eviction", "DESALOJO": "eviction",
        "COPWATCH": "copwatch", "POLICIA": "copwatch",
    }  # fmt: skip


@pytest.mark.parametrize(
    "text",
    [
        "  sí ",
        "Sí!",
        "¡Sí!",
        "si.",
        "SI",
        "\tSi\n",
        "¡¡ Sí !!",
        "ＳＩ",
        "Si\u200b",
        "\u202bsí\u202c",
        "sí 👍",
        "si\x00",
    ],
)
def test_yes_is_case_space_accent_and_punctuation_insensitive(text: str) -> None:
    """'sí' is recognized however it is typed."""
    assert parse(text) == Command(Action.YES, text, language_hint="es")


@pytest.mark.parametrize(
    ("text", "zone", "hint"),
    [
        ("JOIN", "", "en"),
        ("join eastside", "eastside", "en"),
        ("JOIN  East   Side", "east side", "en"),
        ("UNIRSE", "", "es"),
        ("UNIRSE  centro", "centro", "es"),
        ("unirse Peñasco!", "penasco", "es"),
        ("Unirme, Barrio Logan", "barrio logan", "es"),
    ],
)
def test_join_with_optional_zone(text: str, zone: str, hint: str) -> None:
    """JOIN/UNIRSE take an optional zone, lower-cased, accent-free, single-spaced."""
    assert parse(text) == Command(Action.JOIN, text, argument=zone, language_hint=hint)


@pytest.mark.parametrize(
    ("text", "zone"),
    [("ZONE eastside", "eastside"), ("zona  Centro  Norte", "centro norte"), ("ZONE", ""), ("zona", "")],
)
def test_zone(text: str, zone: str) -> None:
    """ZONE/ZONA carry the zone name, or '' when it is missing."""
    command = parse(text)
    assert command.action is Action.ZONE
    assert command.argument == zone


@pytest.mark.parametrize(
    ("text", "argument", "argument_raw", "hint"),
    [
        ("LANG ES", "es", "ES", "en"),
        ("lang en", "en", "en", "en"),
        ("LANGUAGE spanish", "es", "spanish", "en"),
        ("IDIOMA ES", "es", "ES", "es"),
        ("idioma inglés", "en", "inglés", "es"),
        ("Idioma Español", "es", "Español", "es"),
        ("IDIOMA english", "en", "english", "es"),
        ("LANG", "", "", "en"),
        ("IDIOMA", "", "", "es"),
        ("LANG fr", "", "fr", "en"),
        ("idioma klingon", "", "klingon", "es"),
        ("Español", "es", "Español", "es"),
        ("ENGLISH", "en", "ENGLISH", "en"),
        ("spanish", "es", "spanish", "en"),
    ],
)
def test_language(text: str, argument: str, argument_raw: str, hint: str) -> None:
    """LANG/IDIOMA pick 'en' or 'es', keeping what was typed; a language's full name works alone."""
    assert parse(text) == Command(Action.LANGUAGE, text, argument, argument_raw, language_hint=hint)


def test_bare_language_code_is_not_a_command() -> None:
    """'ES' or 'EN' alone is too likely to be a word to switch anyone's language."""
    assert parse("es").action is Action.OTHER
    assert parse("EN").action is Action.OTHER


@pytest.mark.parametrize(
    ("text", "tree", "argument", "hint"),
    [
        ("ICE 5th & Main, 2 vans", "ice", "5th & Main, 2 vans", None),
        ("ice", "ice", "", None),
        ("MIGRA en la esquina de Peña y Ávila", "ice", "en la esquina de Peña y Ávila", "es"),
        ("Redada!! En el mercado", "ice", "En el mercado", "es"),
        ("EVICTION 12 Oak St, sheriff here", "eviction", "12 Oak St, sheriff here", "en"),
        ("desalojo: calle Río 4", "eviction", "calle Río 4", "es"),
        ("COPWATCH 3rd & Pine", "copwatch", "3rd & Pine", None),
        ("Policía   parando carros en la 5a", "copwatch", "parando carros en la 5a", "es"),
        ("REPORT two vans on Main", None, "two vans on Main", "en"),
        ("reportar Hay 3 camionetas", None, "Hay 3 camionetas", "es"),
        ("REPORT", None, "", "en"),
        ("REPORT ICE at the school", "ice", "at the school", "en"),
        ("reportar migra en la escuela", "ice", "en la escuela", "es"),
    ],
)
def test_report(text: str, tree: str | None, argument: str, hint: str | None) -> None:
    """A report word opens its tree; REPORT/REPORTAR alone has no tree; the text keeps its casing."""
    assert parse(text) == Command(Action.REPORT, text, argument, tree=tree, language_hint=hint)


def test_report_argument_drops_control_characters() -> None:
    """Control characters never reach the report text; line breaks become spaces."""
    command = parse("ICE\x00 two vans\nat Main\x07")
    assert command.argument == "two vans at Main"


def test_custom_report_words() -> None:
    """A deployment can pass its own report words; the defaults then no longer apply."""
    words = {"HEAT": "heat", "calor": "heat"}
    assert parse("HEAT no AC at 12 Oak", words) == Command(
        Action.REPORT, "HEAT no AC at 12 Oak", "no AC at 12 Oak", tree="heat"
    )
    assert parse("Calor en la casa", words).tree == "heat"
    assert parse("ICE at Main", words).action is Action.OTHER


@pytest.mark.parametrize(
    "text",
    ["HELP ICE at my door", "help! migra at the door", "AYUDA migra en mi puerta"],
)
def test_help_followed_by_a_report_word_is_a_report(text: str) -> None:
    """Someone texting 'HELP ICE ...' is reporting, not asking how the service works."""
    command = parse(text)
    assert command.action is Action.REPORT
    assert command.tree == "ice"


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("HELP", "en"),
        ("help me please", "en"),
        ("Help?", "en"),
        ("AYUDA", "es"),
        ("ayuda por favor", "es"),
        ("INFO", None),
    ],
)
def test_help_alone_or_with_text(text: str, hint: str | None) -> None:
    """HELP/AYUDA/INFO work alone or followed by anything."""
    command = parse(text)
    assert command.action is Action.HELP
    assert command.language_hint == hint


@pytest.mark.parametrize(
    "text",
    [
        "stop the raid now",
        "STOP them",
        "please stop",
        "parar la redada",
        "cancel the alert",
        "end of the street",
        "alto ahí",
        "start now",
        "unstop me",
        "K7 STOP",
    ],
)
def test_stop_and_start_words_only_count_alone(text: str) -> None:
    """STOP/START words inside a sentence are not opt-outs or opt-ins."""
    assert parse(text).action not in (Action.STOP, Action.START)


@pytest.mark.parametrize(
    "text",
    ["stop", "STOP", " Stop. ", "STOP!", "ＳＴＯＰ", "\u202eSTOP", "st\u200bop", "STOP 🛑", "parar", "Alto!"],
)
def test_stop_alone_is_always_honored(text: str) -> None:
    """A lone STOP is an opt-out whatever the case, punctuation, emoji or invisible characters."""
    assert parse(text).action is Action.STOP


@pytest.mark.parametrize(
    ("text", "action", "hint"),
    [
        ("K7 YES", Action.YES, "en"),
        ("YES K7", Action.YES, "en"),
        ("k7 si", Action.YES, "es"),
        ("Sí K7", Action.YES, "es"),
        ("YES, K7", Action.YES, "en"),
        ("k7: yes!", Action.YES, "en"),
        ("1 K7", Action.ACK, None),
        ("K7 1", Action.ACK, None),
        ("K7 omw", Action.ACK, "en"),
        ("K7 on my way", Action.ACK, "en"),
        ("en camino K7", Action.ACK, "es"),
        ("voy k7", Action.ACK, "es"),
        ("K7 NO", Action.DECLINE, None),
        ("2 K7", Action.DECLINE, None),
        ("CONFIRM K7", Action.CONFIRM, "en"),
        ("K7 CONFIRM", Action.CONFIRM, "en"),
        ("confirmar k7", Action.CONFIRM, "es"),
        ("K7 confirmado", Action.CONFIRM, "es"),
        ("FALSE K7", Action.FALSE_ALARM, "en"),
        ("k7 falsa", Action.FALSE_ALARM, "es"),
        ("RESOLVED K7", Action.RESOLVE, "en"),
        ("K7 resuelto", Action.RESOLVE, "es"),
    ],
)
def test_code_before_or_after_keyword(text: str, action: Action, hint: str | None) -> None:
    """The incident code may come before or after the keyword, any case."""
    command = parse(text)
    assert (command.action, command.code, command.language_hint) == (action, "K7", hint)


@pytest.mark.parametrize("code", ["K7", "AB12", "A1", "ZZ99", "B12"])
def test_code_shapes(code: str) -> None:
    """Codes are 1-2 letters then 1-2 digits, returned upper-case."""
    assert parse(f"{code.lower()} yes").code == code
    assert parse(f"CONFIRM {code}").code == code


@pytest.mark.parametrize("text", ["YES ABC1", "YES K123", "YES 7K", "YES K-7", "CONFIRM ABC12"])
def test_not_codes(text: str) -> None:
    """Tokens outside the code shape are never taken as codes."""
    assert parse(text).code is None


@pytest.mark.parametrize(
    ("text", "action", "hint"),
    [
        ("CONFIRM", Action.CONFIRM, "en"),
        ("falso", Action.FALSE_ALARM, "es"),
        ("Resolve!", Action.RESOLVE, "en"),
    ],
)
def test_incident_keywords_without_code(text: str, action: Action, hint: str) -> None:
    """CONFIRM/FALSE/RESOLVE without a code still parse, with code None."""
    assert parse(text) == Command(action, text, code=None, language_hint=hint)


def test_incident_keyword_keeps_a_note() -> None:
    """Text after 'RESOLVE K7' is kept as the argument."""
    command = parse("RESOLVE K7 they left at 3pm")
    assert (command.action, command.code, command.argument) == (Action.RESOLVE, "K7", "they left at 3pm")


@pytest.mark.parametrize(
    "text",
    [
        "K7 there are 3 vans",
        "k7 ya se fueron",
        "K7 YES they are still here",
        "K7 no hay nadie",
        "K7 JOIN",
        "K7 help is needed at the corner",
        "K7 ICE at the school",
        "K7 stop the raid",
        "K7",
        "k7!",
    ],
)
def test_code_with_free_text_is_a_thread_reply(text: str) -> None:
    """A code followed by anything but an incident keyword is free text for that incident's thread."""
    assert parse(text) == Command(Action.OTHER, text, code="K7")


@pytest.mark.parametrize(
    "text",
    [
        "yes they are still at the corner",
        "no hay nadie",
        "No, there's nobody here",
        "1 van at Main",
        "2 agents on 5th",
        "YES K7 K8",
        "YES NO",
        "si no",
        "YES K7 there",
    ],
)
def test_replies_must_be_the_whole_message(text: str) -> None:
    """YES/ACK/NO words followed by other text are not replies to an alert."""
    assert parse(text).action is Action.OTHER


@pytest.mark.parametrize(
    ("text", "action", "hint"),
    [
        ("Sí, voy", Action.ACK, "es"),
        ("yes omw", Action.ACK, "en"),
        ("YES!! on my way", Action.ACK, "en"),
        ("no puedo", Action.DECLINE, "es"),
        ("no, can't", Action.DECLINE, "en"),
    ],
)
def test_reply_words_combine(text: str, action: Action, hint: str | None) -> None:
    """Several reply words together still reply; 'on my way' makes it an acknowledgement."""
    command = parse(text)
    assert (command.action, command.language_hint) == (action, hint)


HOSTILE = [
    "",
    " ",
    "\n\t\r ",
    "\x00",
    "\x00\x01\x02\x1b[31m",
    "!!!",
    "¿¡.,;:!?",
    "x" * 1600,
    "STOP " * 320,
    "é" * 1600,
    "😀" * 800,
    "👨‍👩‍👧‍👦🏳️‍🌈",
    "مرحبا، هناك مداهمة",
    "\u202e\u202dעזרה",
    "12345",
    "3.14",
    "-12",
    "555-123-4567",
    "\ud800",
    "\ufeff",
    "ЅТОР",  # Cyrillic look-alikes
    "%s %d {0} {code}",
    "'; DROP TABLE members; --",
    "<script>alert(1)</script>",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_bodies_are_other(text: str) -> None:
    """Empty, huge, emoji, right-to-left, control-character and numeric bodies parse to OTHER."""
    command = parse(text)
    assert command.action is Action.OTHER
    assert command.raw == text
    assert command.code is None


def test_parse_never_raises_on_random_text() -> None:
    """Thousands of random strings across the Unicode range all parse without raising."""
    rng = random.Random(20240611)  # fixed seed: reproducible
    alphabet = "KkSsYyNo 1279,.!¡¿\n\x00\u200b\u202eíÍñ😀" + "".join(chr(c) for c in range(0x20, 0x7F))
    for _ in range(3000):
        size = rng.randint(0, 40)
        if rng.random() < 0.5:
            text = "".join(rng.choice(alphabet) for _ in range(size))
        else:
            text = "".join(chr(rng.randint(0, 0x10FFFF)) for _ in range(size))
        command = parse(text)
        assert isinstance(command.action, Action)
        assert command.raw == text
        assert command.code is None or command.code.isupper()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ""),
        ("  sí ", "SI"),
        ("¡Sí!", "SI"),
        ("¿Qué?", "QUE"),
        ("UNIRSE  centro", "UNIRSE CENTRO"),
        ("Peña\tÁvila\n", "PENA AVILA"),
        ("stop\x00", "STOP"),
        ("ＳＴＯＰ", "STOP"),
        ("a\u200bb", "AB"),
        ("5th & Main!", "5TH & MAIN"),
        ("...", ""),
        ("\x00\x01", ""),
    ],
)
def test_normalize(text: str, expected: str) -> None:
    """normalize upper-cases, strips accents and control characters, collapses spaces, trims punctuation."""
    assert normalize(text) == expected


def test_command_is_immutable() -> None:
    """Commands are frozen values."""
    command = parse("YES")
    with pytest.raises(AttributeError):
        command.action = Action.STOP  # type: ignore[misc]


def test_action_values_are_strings() -> None:
    """Actions compare equal to their string values (safe to store and log)."""
    assert isinstance(Action.FALSE_ALARM, str)
    assert Action("false_alarm") is Action.FALSE_ALARM
    assert {action.value for action in Action} >= {"join", "yes", "stop", "other"}


@pytest.mark.parametrize(
    ("text", "tree", "zone"),
    [
        ("DRILL ice eastside", "ice", "eastside"),
        ("drill ICE", "ice", ""),
        ("SIMULACRO migra centro", "ice", "centro"),
        ("Simulacro desalojo Zona Norte", "eviction", "zona norte"),
        ("DRILL eviction", "eviction", ""),
        ("DRILL copwatch 3rd", "copwatch", "3rd"),
        ("DRILL", None, ""),
        ("drill noise outside", None, "noise outside"),
    ],
)  # fmt: skip
def test_drill_names_its_tree_then_its_zone(text: str, tree: str | None, zone: str) -> None:
    """DRILL / SIMULACRO takes a tree by a report word or its own name, then the zone; without one the tree is None."""
    command = parse(text)
    assert command.action is Action.DRILL
    assert (command.tree, command.argument) == (tree, zone)
# Call-in campaigns: (text, action, outcome, language hint)
CAMPAIGN = [
    ("ACTION", Action.CAMPAIGN_JOIN, "", "en"),
    ("acción", Action.CAMPAIGN_JOIN, "", "es"),
    ("CALL", Action.CAMPAIGN_CALL, "", "en"),
    ("call!", Action.CAMPAIGN_CALL, "", "en"),
    ("LLAMAR", Action.CAMPAIGN_CALL, "", "es"),
    ("DONE", Action.CAMPAIGN_DONE, "", "en"),
    ("done voicemail", Action.CAMPAIGN_DONE, "voicemail", "en"),
    ("DONE talked", Action.CAMPAIGN_DONE, "talked", "en"),
    ("Done - hung up", Action.CAMPAIGN_DONE, "hung_up", "en"),
    ("HECHO", Action.CAMPAIGN_DONE, "", "es"),
    ("hecho buzón", Action.CAMPAIGN_DONE, "voicemail", "es"),
    ("HECHO hablé", Action.CAMPAIGN_DONE, "talked", "es"),
    ("hecho, colgaron", Action.CAMPAIGN_DONE, "hung_up", "es"),
]


@pytest.mark.parametrize(("text", "action", "outcome", "hint"), CAMPAIGN)
def test_campaign_words_in_both_languages(text: str, action: Action, outcome: str, hint: str | None) -> None:
    """ACTION / ACCION, CALL / LLAMAR, DONE / HECHO with how the call went, in either language."""
    command = parse(text)
    assert (command.action, command.argument, command.language_hint) == (action, outcome, hint)


@pytest.mark.parametrize(("text", "action"), [
    ("CALL ME", Action.CALL_ME), ("llamame", Action.CALL_ME), ("LLAMADA", Action.CALL_ME),
    ("call the lawyer, ICE at 5th", Action.OTHER), ("llamar a la abogada", Action.OTHER),
    ("done with this", Action.OTHER), ("K7 CALL", Action.OTHER), ("ACTION now at 5th", Action.OTHER),
])
def test_campaign_words_never_take_another_meaning(text: str, action: Action) -> None:
    """CALL ME stays the channel switch; CALL / ACTION with more words, or DONE with words that are no
    outcome, are a message, never a campaign call or a report of one."""
    assert parse(text).action is action
