"""How long a PAUSE lasts (pure): "PAUSE 3d", "PAUSE 12h", "PAUSA 2 dias", "PAUSE a week".

Texts arrive in the parser's normalized form (upper case, no accents). A pause without a span lasts
DEFAULT_PAUSE; a longer span than MAX_PAUSE is cut to it (the reply says so), so nobody disappears
from the network for months by a typo.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from rapidresponse.i18n import render

DEFAULT_PAUSE = timedelta(hours=24)
MAX_PAUSE = timedelta(days=30)

_UNITS: dict[str, timedelta] = {
    **dict.fromkeys(("H", "HR", "HRS", "HOUR", "HOURS", "HORA", "HORAS"), timedelta(hours=1)),
    **dict.fromkeys(("D", "DAY", "DAYS", "DIA", "DIAS"), timedelta(days=1)),
    **dict.fromkeys(("W", "WK", "WKS", "WEEK", "WEEKS", "SEMANA", "SEMANAS"), timedelta(weeks=1)),
}
_NUMBER_WORDS = {
    "A": 1, "AN": 1, "ONE": 1, "UN": 1, "UNA": 1, "UNO": 1, "TWO": 2, "DOS": 2, "THREE": 3, "TRES": 3,
    "FOUR": 4, "CUATRO": 4, "FIVE": 5, "CINCO": 5, "SIX": 6, "SEIS": 6, "SEVEN": 7, "SIETE": 7,
}
# "FOR 3 DAYS" / "POR 2 DIAS": the little word in front changes nothing.
_LEADING = frozenset({"FOR", "POR", "DURANTE"})
_GLUED = re.compile(r"^(\d{1,4})([A-Z]+)$")  # "3D", "12HRS", "2DIAS"


@dataclass(frozen=True)
class Pause:
    until: datetime
    capped: bool  # the span asked for was longer than MAX_PAUSE


def _count(word: str) -> int | None:
    if word.isdigit() and len(word) <= 4:
        return int(word)
    return _NUMBER_WORDS.get(word)


def parse_span(text: str) -> timedelta | None:
    """The span in a normalized text ("3D", "12 H", "2 DIAS", "UNA SEMANA", "WEEK"); an empty text
    is the default; None when it is not a span we understand (the caller explains the format)."""
    words = text.split()
    if words and words[0] in _LEADING:
        words = words[1:]
        if not words:
            return None
    if not words:
        return DEFAULT_PAUSE
    count: int | None
    if len(words) == 1:
        glued = _GLUED.match(words[0])
        count, unit = (int(glued.group(1)), glued.group(2)) if glued else (1, words[0])
    elif len(words) == 2:
        count, unit = _count(words[0]), words[1]
    else:
        return None
    if count is None or count < 1 or unit not in _UNITS:
        return None
    return _UNITS[unit] * count


def pause_until(now: datetime, span: timedelta) -> Pause:
    """When a pause asked for now ends: `span` later, at most MAX_PAUSE."""
    capped = span > MAX_PAUSE
    return Pause(until=now + min(span, MAX_PAUSE), capped=capped)


def local_time(when: datetime, zone: tzinfo, language: str) -> str:
    """A moment as a member reads it, in the network's time: "Thu Dec 3, 18:20" / "jue 3 dic, 18:20"."""
    local = when.astimezone(zone)
    weekday = render("time.days", language).split(",")[local.weekday()]
    month = render("time.months", language).split(",")[local.month - 1]
    return render("time.format", language, weekday=weekday, month=month, day=local.day,
                  time=f"{local.hour:02d}:{local.minute:02d}")
