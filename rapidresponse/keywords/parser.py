"""Inbound text -> Command. Pure: no app, no database, never raises on a str.

Order matters and is deliberate:
1. STOP / START words count only when they are the whole message (the carriers' rule), so
   "stop the raid now" is never an opt-out.
2. A leading incident code ("K7 YES", "K7 CONFIRM") is set aside; only the incident keywords and the
   replies to an alert may follow it. Anything else after a code is a free-text reply for that
   incident's thread (OTHER with the code).
3. The first word (or phrase) picks the action; replies to an alert (YES / 1 / NO ...) must be the
   whole message apart from one code, so a sentence that starts with "No" is never a decline.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from types import MappingProxyType

from rapidresponse.keywords.vocab import (
    CAMPAIGN_OUTCOMES,
    DEFAULT_REPORT_WORDS,
    LANGUAGE_NAMES,
    NEUTRAL,
    REPORT_WORDS,
    VOCABULARY,
)

__all__ = ["DEFAULT_REPORT_WORDS", "Action", "Command", "normalize", "parse"]


class Action(str, Enum):  # noqa: UP042 - the project's convention for statuses (STYLE.md)
    JOIN = "join"
    YES = "yes"
    START = "start"
    STOP = "stop"
    HELP = "help"
    LANGUAGE = "language"
    ZONE = "zone"
    REPORT = "report"
    ACK = "ack"
    DECLINE = "decline"
    CONFIRM = "confirm"
    FALSE_ALARM = "false_alarm"
    RESOLVE = "resolve"
    CALL_ME = "call_me"
    TEXT_ME = "text_me"
    PAUSE = "pause"
    BACK = "back"
    HOURS = "hours"
    DRILL = "drill"
    CAMPAIGN_JOIN = "campaign_join"
    CAMPAIGN_CALL = "campaign_call"
    CAMPAIGN_DONE = "campaign_done"
    OTHER = "other"


@dataclass(frozen=True)
class Command:
    action: Action
    raw: str
    argument: str = ""
    argument_raw: str = ""
    tree: str | None = None
    code: str | None = None
    language_hint: str | None = None


CODE_RE = re.compile(r"[A-Z]{1,2}[0-9]{1,2}")
# Commas and semicolons separate words too: "YES,K7" is two words.
_WORD_RE = re.compile(r"[^\s,;]+")

_SINGLE_WORD_ONLY = frozenset({Action.STOP, Action.START})
# Settings that count only as the whole message: "call me at 5, 2 vans outside" is news, not a setting.
_WHOLE_MESSAGE_ONLY = frozenset({Action.CALL_ME, Action.TEXT_ME, Action.BACK, Action.CAMPAIGN_JOIN,
                                 Action.CAMPAIGN_CALL})
# Settings with a value after them: PAUSE 3d, HORAS 6-14 (argument: the value, normalized).
_SETTINGS_WITH_VALUE = frozenset({Action.PAUSE, Action.HOURS})
# DONE voicemail / HECHO colgaron: the whole rest of the message is how the call went.
_OUTCOMES = {word: outcome for table in CAMPAIGN_OUTCOMES.values() for word, outcome in table.items()}
_REPLIES = frozenset({Action.YES, Action.ACK, Action.DECLINE})
_INCIDENT_ACTIONS = frozenset({Action.CONFIRM, Action.FALSE_ALARM, Action.RESOLVE})
_CODE_ACTIONS = _REPLIES | _INCIDENT_ACTIONS


def _strip_control(text: str) -> str:
    """Drop control characters, turning the whitespace ones into spaces."""
    return "".join(
        " " if char.isspace() else char
        for char in text
        if char.isspace() or unicodedata.category(char) != "Cc"
    )


def _fold(text: str) -> str:
    """Upper-case, accents stripped, invisible format characters (RTL marks, zero-width) dropped."""
    decomposed = unicodedata.normalize("NFKD", text.upper())
    return "".join(char for char in decomposed if unicodedata.category(char) not in ("Mn", "Mc", "Me", "Cf"))


def _trim(text: str, categories: str) -> str:
    """Trim characters whose Unicode category starts with one of `categories` from both ends."""
    start, end = 0, len(text)
    while start < end and unicodedata.category(text[start])[0] in categories:
        start += 1
    while end > start and unicodedata.category(text[end - 1])[0] in categories:
        end -= 1
    return text[start:end]


def normalize(text: str) -> str:
    """The comparable form of a text: 'UPPER NO ACCENTS', one space between words, no end punctuation."""
    folded = " ".join(_fold(_strip_control(text)).split())
    return _trim(folded, "PZ")


@dataclass(frozen=True)
class _Word:
    key: str  # normalized, end punctuation and symbols trimmed; may be "" (emoji, "&")
    start: int  # offset in the cleaned text, so arguments keep the sender's casing and accents


@dataclass(frozen=True)
class _Vocabulary:
    phrases: Mapping[tuple[str, ...], tuple[Action, str | None]]
    longest: int
    languages: Mapping[str, tuple[str, str | None]]
    report_hints: Mapping[str, str | None]


def _hint_table(entries: Sequence[tuple[str, str]]) -> dict[str, str | None]:
    """word -> its language, or None when neutral or claimed by several languages."""
    hints: dict[str, str | None] = {}
    for word, language in entries:
        hint = None if language == NEUTRAL else language
        hints[word] = hint if word not in hints or hints[word] == hint else None
    return hints


def _build_vocabulary() -> _Vocabulary:
    actions: dict[tuple[str, ...], Action] = {}
    phrase_entries: list[tuple[str, str]] = []
    for language, table in VOCABULARY.items():
        for action_name, listed in table.items():
            for phrase in listed:
                actions[tuple(phrase.split())] = Action(action_name)
                phrase_entries.append((phrase, language))
    phrase_hints = _hint_table(phrase_entries)
    phrases = {words: (action, phrase_hints[" ".join(words)]) for words, action in actions.items()}

    names = _hint_table([(word, lang) for lang, table in LANGUAGE_NAMES.items() for word in table])
    languages = {
        word: (code, names[word]) for table in LANGUAGE_NAMES.values() for word, code in table.items()
    }
    report_hints = _hint_table([(word, lang) for lang, table in REPORT_WORDS.items() for word in table])
    return _Vocabulary(phrases, max(len(words) for words in phrases), languages, report_hints)


_VOCABULARY = _build_vocabulary()


def _words(cleaned: str) -> list[_Word]:
    words = []
    for match in _WORD_RE.finditer(cleaned):
        key = _trim(_fold(match.group()), "PS").replace(" ", "")
        words.append(_Word(key, match.start()))
    return words


def _match_phrase(keys: Sequence[str], at: int) -> tuple[Action, str | None, int] | None:
    """The longest vocabulary phrase starting at `at`: (action, language hint, words used)."""
    for size in range(min(_VOCABULARY.longest, len(keys) - at), 0, -1):
        found = _VOCABULARY.phrases.get(tuple(keys[at : at + size]))
        if found is not None:
            return found[0], found[1], size
    return None


def _is_code(key: str) -> bool:
    return CODE_RE.fullmatch(key) is not None


def _combine_hints(hints: Sequence[str | None]) -> str | None:
    distinct = {hint for hint in hints if hint is not None}
    return distinct.pop() if len(distinct) == 1 else None


def _parse_reply(raw: str, keys: list[str], lead_code: str | None) -> Command | None:
    """YES / ACK / DECLINE when the whole message is reply words plus at most one code."""
    code = lead_code
    if code is None and len(keys) > 1 and _is_code(keys[-1]):
        code, keys = keys[-1], keys[:-1]
    found: list[tuple[Action, str | None]] = []
    at = 0
    while at < len(keys):
        match = _match_phrase(keys, at)
        if match is None or match[0] not in _REPLIES:
            return None
        found.append((match[0], match[1]))
        at += match[2]
    kinds = {action for action, _ in found}
    if not kinds or (Action.DECLINE in kinds and len(kinds) > 1):
        return None
    # "SI VOY" / "YES OMW": an explicit "on my way" makes it an acknowledgement, not a bare yes.
    action = Action.ACK if Action.ACK in kinds else kinds.pop()
    return Command(action, raw, code=code, language_hint=_combine_hints([hint for _, hint in found]))


def _zone_argument(keys: Sequence[str]) -> str:
    return " ".join(key for key in keys if key).lower()


def _rest(cleaned: str, words: Sequence[_Word], at: int) -> str:
    """The sender's own text from word `at` on, casing and accents kept."""
    return cleaned[words[at].start :].strip() if at < len(words) else ""


@lru_cache(maxsize=32)
def _report_keys(report_words: tuple[tuple[str, str], ...]) -> Mapping[str, str]:
    """The report keywords as the words of a text are compared (normalized once per set of trees,
    not on every inbound text)."""
    return MappingProxyType({normalize(word).replace(" ", ""): tree for word, tree in report_words})


def parse(text: str, report_words: Mapping[str, str] = DEFAULT_REPORT_WORDS) -> Command:
    """Parse one inbound SMS body into a Command; anything unrecognized is OTHER."""
    cleaned = _strip_control(text)
    all_words = _words(cleaned)
    # Words that are only punctuation or symbols ("!", "&", an emoji) never decide the action.
    words = [word for word in all_words if word.key]
    keys = [word.key for word in words]
    if not keys:
        return Command(Action.OTHER, text)

    reports = _report_keys(tuple(report_words.items()))

    if len(keys) == 1:
        match = _match_phrase(keys, 0)
        if match is not None and match[0] in _SINGLE_WORD_ONLY:
            return Command(match[0], text, language_hint=match[1])
        language = _VOCABULARY.languages.get(keys[0])
        if language is not None and len(keys[0]) > 2:
            return Command(Action.LANGUAGE, text, language[0], cleaned.strip(), language_hint=language[1])

    lead_code: str | None = None
    at = 0
    if _is_code(keys[0]):
        lead_code, at = keys[0], 1
        if len(keys) == 1:
            return Command(Action.OTHER, text, code=lead_code)

    reply = _parse_reply(text, keys[at:], lead_code)
    if reply is not None:
        return reply

    match = _match_phrase(keys, at)
    action, hint, size = match if match is not None else (Action.OTHER, None, 0)
    after = at + size

    if lead_code is not None and action not in _CODE_ACTIONS:
        return Command(Action.OTHER, text, code=lead_code)

    if action in _WHOLE_MESSAGE_ONLY:
        return Command(action if after == len(keys) else Action.OTHER, text, language_hint=hint)

    if action is Action.CAMPAIGN_DONE:
        rest = " ".join(keys[after:])
        if rest and rest not in _OUTCOMES:
            return Command(Action.OTHER, text)  # "done with this": a sentence, not a report of a call
        return Command(action, text, _OUTCOMES.get(rest, ""), language_hint=hint)

    if action in _INCIDENT_ACTIONS:
        code = lead_code
        if code is None and after < len(keys) and _is_code(keys[after]):
            code, after = keys[after], after + 1
        return Command(action, text, _rest(cleaned, words, after), code=code, language_hint=hint)

    if action in _SETTINGS_WITH_VALUE:
        rest = _rest(cleaned, words, after)
        return Command(action, text, normalize(rest), rest, language_hint=hint)

    if action is Action.JOIN or action is Action.ZONE:
        return Command(action, text, _zone_argument(keys[after:]), language_hint=hint)

    if action is Action.LANGUAGE:
        argument_raw = _rest(cleaned, words, after)
        chosen = _VOCABULARY.languages.get(keys[after]) if after < len(keys) else None
        return Command(action, text, chosen[0] if chosen else "", argument_raw, language_hint=hint)

    if action is Action.HELP:
        # "HELP ICE at my door" is someone reporting, not asking how the service works.
        if after < len(keys) and keys[after] in reports:
            return _report(text, cleaned, words, after, reports)
        return Command(action, text, _rest(cleaned, words, after), language_hint=hint)

    if action is Action.REPORT:
        if after < len(keys) and keys[after] in reports:
            report = _report(text, cleaned, words, after, reports)
            return Command(
                Action.REPORT,
                text,
                report.argument,
                tree=report.tree,
                language_hint=hint or report.language_hint,
            )
        return Command(action, text, _rest(cleaned, words, after), language_hint=hint)

    if action is Action.DRILL:
        return _drill(text, cleaned, words, after, reports, hint)

    if action is Action.OTHER and keys[at] in reports:
        return _report(text, cleaned, words, at, reports)

    # Reply words followed by more text ("YES K8 there", "no hay nadie") are a message for the thread.
    return Command(Action.OTHER, text, code=lead_code)


def _drill(text: str, cleaned: str, words: Sequence[_Word], at: int, reports: Mapping[str, str],
           hint: str | None) -> Command:
    """DRILL ice eastside / SIMULACRO migra centro: the tree by a report word or its own name, then
    the zone. Without a tree word the tree is None (the sender is told how to start one)."""
    keys = [word.key for word in words]
    tree = None
    if at < len(keys):
        names = {name.upper(): name for name in reports.values()}
        tree = reports.get(keys[at]) or names.get(keys[at])
    if tree is None:
        return Command(Action.DRILL, text, _rest(cleaned, words, at), language_hint=hint)
    return Command(Action.DRILL, text, _zone_argument(keys[at + 1 :]), _rest(cleaned, words, at + 1), tree=tree,
                   language_hint=hint)


def _report(text: str, cleaned: str, words: Sequence[_Word], at: int, reports: Mapping[str, str]) -> Command:
    """A report opened by the tree word at `at`."""
    word = words[at].key
    return Command(
        Action.REPORT,
        text,
        _rest(cleaned, words, at + 1),
        tree=reports[word],
        language_hint=_VOCABULARY.report_hints.get(word),
    )
