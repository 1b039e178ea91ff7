"""Duty windows (pure): when a layer, or one member, is on duty, in the network's local time.

A window is written "05:00-14:00" in the trees file, or "6-14" by text (HOURS 6-14 / HORAS 6-14).
One whose end comes before its start runs across midnight ("22-6"). The start is inside, the end
is not: 06:00-14:00 is on duty at 13:59 and off at 14:00. Times are the network's wall clock, so a
window follows daylight-saving changes as people's watches do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, tzinfo

DAY = 24 * 60
_TIME = r"(\d{1,2})(?::(\d{2}))?"
_WINDOW = re.compile(rf"^{_TIME}\s*(?:-|–|—|TO|A|HASTA)\s*{_TIME}$", re.IGNORECASE)
# HOURS ALL / HORAS TODAS: no window of one's own (the layer's applies, or none).
ALWAYS_WORDS = frozenset({"ALL", "ANY", "ALWAYS", "ANYTIME", "TODAS", "TODO", "SIEMPRE", "CUALQUIERA"})


class WindowError(ValueError):
    """Not a duty window; the message says how to write one."""


@dataclass(frozen=True)
class DutyWindow:
    start: int  # minutes after local midnight, 0..1439
    end: int  # minutes after local midnight, 1..1440; before `start` when it runs across midnight

    def contains(self, minute: int) -> bool:
        if self.start < self.end:
            return self.start <= minute < self.end
        return minute >= self.start or minute < self.end

    def on_duty(self, now: datetime, zone: tzinfo) -> bool:
        local = now.astimezone(zone)
        return self.contains(local.hour * 60 + local.minute)

    def __str__(self) -> str:
        return f"{_clock(self.start)}-{_clock(self.end)}"


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _minutes(hours: str, minutes: str | None) -> int:
    h, m = int(hours), int(minutes or 0)
    if h > 24 or m > 59 or (h == 24 and m):
        raise WindowError("hours go from 0 to 24, minutes from 00 to 59")
    return h * 60 + m


def parse_window(text: str) -> DutyWindow:
    """"6-14", "06:00-14:00", "22-6" (across midnight), "6 a 14" -> DutyWindow; WindowError otherwise."""
    match = _WINDOW.match(" ".join(text.split()))
    if match is None:
        raise WindowError("a duty window is two times of day, like 6-14 or 05:00-14:00")
    start = _minutes(match.group(1), match.group(2)) % DAY
    end = _minutes(match.group(3), match.group(4))
    end = DAY if end == 0 and start else end  # "22-0": until midnight
    if start == end:
        raise WindowError("a duty window needs different start and end times")
    return DutyWindow(start, end)


def is_on_duty(own: DutyWindow | None, layer: DutyWindow | None, now: datetime, zone: tzinfo) -> bool:
    """A member's own hours, when they set some, replace their layer's window; with neither, always."""
    window = own if own is not None else layer
    return window is None or window.on_duty(now, zone)
