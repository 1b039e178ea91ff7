"""Message catalogs: one TOML file per language in `catalogs/`, rendered without any request.

A missing language or a key a translation has not caught up with falls back to English, so a member
always gets a message; a key missing in English too is a programming error (MissingMessageError).
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

__all__ = ["DEFAULT_LANGUAGE", "LANGUAGES", "MissingMessageError", "Say", "language_name", "messages", "render",
           "say_options"]

DEFAULT_LANGUAGE = "en"
_CATALOGS = resources.files(__package__ or "rapidresponse.i18n").joinpath("catalogs")


class MissingMessageError(KeyError):
    """No message with this key exists, not even in English."""


def _discover() -> tuple[str, ...]:
    found = sorted(
        entry.name.removesuffix(".toml") for entry in _CATALOGS.iterdir() if entry.name.endswith(".toml")
    )
    # English first: it is the fallback every other catalog is checked against.
    return tuple(sorted(found, key=lambda code: code != DEFAULT_LANGUAGE))


LANGUAGES: tuple[str, ...] = _discover()


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for name, value in table.items():
        key = f"{prefix}{name}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{key}."))
        elif isinstance(value, str):
            flat[key] = value
        else:
            raise TypeError(f"message {key!r} must be a string")
    return flat


@functools.cache
def _load() -> dict[str, dict[str, str]]:
    catalogs = {}
    for language in LANGUAGES:
        text = _CATALOGS.joinpath(f"{language}.toml").read_text(encoding="utf-8")
        catalogs[language] = _flatten(tomllib.loads(text))
    return catalogs


def _language(language: str | None) -> str:
    """'es', 'ES' and 'es-MX' all mean the Spanish catalog; anything unknown means English."""
    code = (language or "").strip().lower().replace("_", "-").split("-")[0]
    return code if code in LANGUAGES else DEFAULT_LANGUAGE


def messages(language: str) -> Mapping[str, str]:
    """Every message template of one catalog, as written (no fallback)."""
    return dict(_load().get(language, {}))


def render(key: str, language: str, **params: object) -> str:
    """The message `key` in `language` (English if missing there), filled with `params`.

    A placeholder without a value raises KeyError: that is a bug in the caller, not a message to send.
    """
    catalogs = _load()
    template = catalogs[_language(language)].get(key)
    if template is None:
        template = catalogs[DEFAULT_LANGUAGE].get(key)
    if template is None:
        raise MissingMessageError(key)
    return template.format_map(params)


def language_name(language: str) -> str:
    """The language's name in itself ('English', 'Español'), for menus and confirmations."""
    return render("language.name", language)


@dataclass(frozen=True)
class Say:
    """How a `<Say>` speaks one catalog's language: a language code and a voice that exists for it."""

    language: str
    voice: str


def say_options(language: str) -> Say:
    """The `<Say>` language code and voice for `language`, from its catalog (`voice.say_language`,
    `voice.say_voice`; English's when the catalog has none)."""
    return Say(render("voice.say_language", language), render("voice.say_voice", language))
