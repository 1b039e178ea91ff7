"""The hotline's steps (pure): what a step, the keys pressed and the language lead to.

The webhook (webhooks/hotline.py) renders what these functions return as TwiML and carries the
step, the language and the few counters below in each action URL's query, so no call state is
kept between requests. Nothing here knows Twilio, Flask or the database.

A caller is never dropped: a wrong key or silence repeats the menu once, then the report is
recorded anyway into the hotline's default tree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum

from rapidresponse.i18n import LANGUAGES, MissingMessageError, render
from rapidresponse.i18n.catalog import DEFAULT_LANGUAGE

# A keypress Twilio reports, besides the digits: a recording ended by hanging up.
HANGUP = "hangup"
LANGUAGE_KEY = "9"
REPEAT_KEY = "*"
MAX_MISSES = 2  # a wrong key or silence: the menu once more, then record anyway
MAX_PLAYS = 6  # * repeats the menu, but not forever
RECORD_SECONDS = 120  # Twilio's built-in transcription handles 2-120 s
RECORD_SILENCE_SECONDS = 10
SHORTEST_REPORT_SECONDS = 2  # a hang-up with this much or less recorded is a missed call
GATHER_SECONDS = 6
# Withheld caller IDs arrive as these numbers (Twilio), or as words some carriers send.
WITHHELD_NUMBERS = frozenset({"+266696687", "+7378742833", "+2562533", "+8656696"})
WITHHELD_WORDS = frozenset({"", "anonymous", "restricted", "unknown", "private", "unavailable", "blocked"})
# Keypad letters, for codes typed on a phone (K7 -> 57).
KEYPAD = {letter: str(key) for key, letters in
          {2: "ABC", 3: "DEF", 4: "GHI", 5: "JKL", 6: "MNO", 7: "PQRS", 8: "TUV", 9: "WXYZ"}.items()
          for letter in letters}


class Step(str, Enum):
    """Where an action URL's answer goes (the `step` in its query)."""

    GREETING = "greeting"  # the call came in (no query), or a step we no longer know
    MENU = "menu"  # keys pressed at the menu
    RECORDED = "recorded"  # <Record> finished (# pressed, silence, or the caller hung up)
    COORDINATOR = "coordinator"  # keys pressed at the coordinator menu
    CODE = "code"  # a coordinator typed an incident's code
    TRANSCRIPT = "transcript"  # Twilio's transcription callback
    ENDED = "ended"  # the number's call-status callback: the call is over


@dataclass(frozen=True)
class Say:
    """One sentence of a catalog, spoken in `language` with that language's voice."""

    key: str
    language: str
    params: Mapping[str, str] = field(default_factory=dict)

    def text(self) -> str:
        return render(self.key, self.language, **self.params)


@dataclass(frozen=True)
class Gather:
    """Say the prompts while waiting for keys; the keys go to `step` with `query`."""

    prompts: tuple[Say, ...]
    step: Step
    language: str
    query: Mapping[str, str] = field(default_factory=dict)
    num_digits: int | None = 1
    finish_on_key: str = ""


@dataclass(frozen=True)
class Record:
    """Say the prompts, beep, record into `tree`; the recording goes to Step.RECORDED."""

    prompts: tuple[Say, ...]
    tree: str
    language: str
    attempt: int = 1


@dataclass(frozen=True)
class Hangup:
    prompts: tuple[Say, ...]


Answer = Gather | Record | Hangup


@dataclass(frozen=True)
class Menu:
    """What the hotline offers: key -> tree name (trees.voice_keys) and where silence goes."""

    keys: Mapping[str, str]
    default_tree: str


def language_of(raw: str | None) -> str:
    """A language from a query: one we have a catalog for, else English (never an error)."""
    value = (raw or "").strip().lower()
    return value if value in LANGUAGES else DEFAULT_LANGUAGE


def other_language(language: str) -> str:
    """The language key 9 switches to: Spanish from English, English from any other."""
    others = [code for code in LANGUAGES if code != language]
    if language != DEFAULT_LANGUAGE:
        return DEFAULT_LANGUAGE
    return "es" if "es" in others else (others[0] if others else language)


def is_withheld(raw: str | None) -> bool:
    """A caller ID that is not a number anyone can call back."""
    value = (raw or "").strip()
    return value.lower() in WITHHELD_WORDS or value in WITHHELD_NUMBERS


def spell(code: str) -> str:
    """'K7' -> 'K, 7': read letter by letter so it survives a bad line."""
    return ", ".join(code.upper())


def keypad(code: str) -> str:
    """The keys that type a code on a phone: 'K7' -> '57'."""
    return "".join(KEYPAD.get(c, c) for c in code.upper())


def count(raw: str | None, default: int = 0, high: int = 99) -> int:
    """A counter from a query; anything odd reads as the default."""
    value = (raw or "").strip()
    return min(int(value), high) if value.isdigit() and len(value) <= 2 else default


# --- the caller's path -----------------------------------------------------------------------


def menu(menu: Menu, language: str, *, misses: int = 0, plays: int = 1, sorry: bool = False) -> Gather:
    """The greeting and menu, in `language`, offering the other language by key 9."""
    prompts = [Say("hotline.not_understood", language)] if sorry else []
    prompts.append(Say("hotline.greeting", language))
    for key, tree in menu.keys.items():
        prompts.append(Say("hotline.menu_item", language, {"tree_label": tree_label(tree, language), "digit": key}))
    prompts.append(Say("hotline.repeat", language))
    other = other_language(language)
    if other != language:
        prompts.append(Say("hotline.switch_language", other))
    return Gather(tuple(prompts), Step.MENU, language, {"miss": str(misses), "play": str(plays)})


def tree_label(tree: str, language: str) -> str:
    try:
        return render(f"tree.{tree}", language)
    except KeyError:
        return tree.replace("_", " ")


def pressed(menu_: Menu, digits: str, language: str, *, misses: int, plays: int) -> Answer:
    """Keys pressed at the menu (or none): a tree's key records into it; 9 switches language;
    * repeats; anything else repeats once with an apology, then records into the default tree."""
    key = digits.strip()[:1]
    if key in menu_.keys:
        return record(menu_.keys[key], language)
    if key == LANGUAGE_KEY:
        return menu(menu_, other_language(language), misses=misses, plays=plays + 1)
    if key == REPEAT_KEY and plays < MAX_PLAYS:
        return menu(menu_, language, misses=misses, plays=plays + 1)
    misses += 1
    if misses >= MAX_MISSES or plays >= MAX_PLAYS:
        return record(menu_.default_tree, language, anyway=True)
    return menu(menu_, language, misses=misses, plays=plays + 1, sorry=True)


def record(tree: str, language: str, *, anyway: bool = False, attempt: int = 1) -> Record:
    prompts = (Say("hotline.record_anyway", language),) if anyway else ()
    key = "hotline.no_recording" if attempt > 1 else "hotline.record_prompt"
    return Record((*prompts, Say(key, language)), tree, language, attempt)


class AfterRecording(str, Enum):
    REPORT = "report"  # open the report and read its code back
    AGAIN = "again"  # nothing heard: ask once more
    MISSED = "missed"  # the caller hung up before saying anything: a missed call


def after_recording(duration: int, digits: str, attempt: int) -> AfterRecording:
    """What a finished recording means. A hang-up with more than 2 s recorded is still a report;
    silence while the caller stays on the line gets one more try, then is a report all the same
    (someone who called and chose a tree needs a coordinator, even without words)."""
    if duration > SHORTEST_REPORT_SECONDS:
        return AfterRecording.REPORT
    if digits.strip().lower() == HANGUP:
        return AfterRecording.MISSED
    return AfterRecording.AGAIN if attempt < 2 else AfterRecording.REPORT


def reported(code: str, language: str, *, someone_alerted: bool) -> Hangup:
    """The reference code, letter by letter, twice (in the sentence), then goodbye."""
    key = "hotline.received" if someone_alerted else "hotline.received_nobody"
    return Hangup((Say(key, language, {"letters": spell(code)}),))


# --- the coordinator's path ------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """The incident a coordinator's menu is about."""

    id: int
    code: str
    tree: str
    status: str
    minutes_ago: int


class Decision(str, Enum):
    CONFIRM = "confirm"
    FALSE_ALARM = "false_alarm"
    RESOLVE = "resolve"


COORDINATOR_KEYS = {"1": Decision.CONFIRM, "2": Decision.FALSE_ALARM, "3": Decision.RESOLVE}
CHOOSE_KEY = "4"
REPORT_KEY = "0"


def coordinator_menu(target: Target | None, language: str, *, plays: int = 1, sorry: bool = False,
                     greet: bool = True) -> Gather:
    """The coordinator's menu in `language` (a member's own, else English), offering the other
    language by key 9 as the caller's menu does."""
    prompts = [Say("hotline.not_understood", language)] if sorry else []
    if greet:
        prompts.append(Say("hotline.coordinator_greeting", language))
    query = {"play": str(plays)}
    if target is None:
        prompts.append(Say("hotline.coordinator_none", language))
    else:
        prompts.append(Say("hotline.coordinator_incident", language, {
            "letters": spell(target.code), "tree_label": tree_label(target.tree, language),
            "minutes": str(max(0, target.minutes_ago)), "status": status_label(target.status, language),
        }))
        prompts.append(Say("hotline.coordinator_choices", language))
        query["incident"] = str(target.id)
    other = other_language(language)
    if other != language:
        prompts.append(Say("hotline.switch_language", other))
    return Gather(tuple(prompts), Step.COORDINATOR, language, query)


def status_label(status: str, language: str) -> str:
    """An incident's status as said on the line, in the menu's language (a status with no
    sentence in the catalogs is said as it is stored)."""
    try:
        return render(f"hotline.status_{status}", language)
    except MissingMessageError:
        return status.replace("_", " ")


@dataclass(frozen=True)
class Decide:
    """Apply a decision to the incident (the same functions the console and SMS use)."""

    decision: Decision
    incident_id: int
    language: str


@dataclass(frozen=True)
class Report:
    """The coordinator is reporting: the caller's menu."""

    language: str


def coordinator_pressed(digits: str, target: Target | None, language: str, *, plays: int
                        ) -> Decide | Report | Gather | Hangup:
    key = digits.strip()[:1]
    if key == REPORT_KEY:
        return Report(language)
    if target is not None and key in COORDINATOR_KEYS:
        return Decide(COORDINATOR_KEYS[key], target.id, language)
    if key == CHOOSE_KEY:
        return ask_code(language)
    if key == LANGUAGE_KEY:
        return coordinator_menu(target, other_language(language), plays=plays + 1)
    if plays >= MAX_PLAYS:
        return Report(language)  # whoever is on the line, never dropped: they may be reporting
    return coordinator_menu(target, language, plays=plays + 1, sorry=key not in ("", REPEAT_KEY), greet=False)


def ask_code(language: str, *, unknown: bool = False) -> Gather:
    prompts = (Say("hotline.coordinator_unknown_code", language),) if unknown else ()
    return Gather((*prompts, Say("hotline.coordinator_enter_code", language)), Step.CODE, language,
                  num_digits=None, finish_on_key="#")


def matching_codes(digits: str, open_codes: list[str]) -> list[str]:
    """Open codes whose keypad keys are the digits typed ('57' finds K7, L7, J7 ...)."""
    typed = "".join(c for c in digits if c.isdigit())
    return [code for code in open_codes if typed and keypad(code) == typed]


def decided(decision: Decision, changed: bool, code: str, language: str, *, closed: bool = False) -> Hangup:
    letters = {"letters": spell(code)}
    if closed:
        return Hangup((Say("hotline.coordinator_closed", language, letters),))
    if decision == Decision.CONFIRM:
        key = "hotline.coordinator_confirmed" if changed else "hotline.coordinator_already_confirmed"
    elif decision == Decision.FALSE_ALARM:
        key = "hotline.coordinator_false_alarm" if changed else "hotline.coordinator_closed"
    else:
        key = "hotline.coordinator_resolved" if changed else "hotline.coordinator_closed"
    return Hangup((Say(key, language, letters),))
