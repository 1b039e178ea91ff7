"""Who a layer alerts, and in what order (pure): pause, duty windows, fair rotation, waves.

Rules, in order:
1. A paused member is never alerted (PAUSE takes someone out of alerts until it ends).
2. Members on duty come first; members off duty are added only as far as the layer would
   otherwise have fewer than its quorum, so nobody is woken for a layer that has enough people.
3. Within each group: the report's zone first (when the layer is zone-first or alerts in waves),
   then whoever was alerted least recently (never alerted first), then the lightest load over 30
   days, then the member id, so the order is the same every time it is computed.
4. A layer with `wave = N` alerts N at a time, in that order; without it, everyone at once.
"""

from __future__ import annotations

import heapq
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import NamedTuple

from rapidresponse.duty.windows import DutyWindow

_NEVER = datetime.min.replace(tzinfo=UTC)


class Candidate(NamedTuple):
    """What planning knows of one reachable member of the layer (no number, no name). A tuple:
    a layer has thousands, made afresh at every planning."""

    id: int
    zone: str | None = None
    paused_until: datetime | None = None
    hours: DutyWindow | None = None
    last_alerted_at: datetime | None = None
    load: int = 0  # alerts received over the last 30 days


@dataclass(frozen=True)
class LayerPlan:
    order: tuple[int, ...]  # everyone this layer may alert, in the order they are alerted
    on_duty: int  # reachable, unpaused members on duty now
    off_duty: int  # reachable, unpaused members off duty now
    paused: int
    off_duty_called: int  # off-duty members in `order` because the layer is short of its quorum

    def wave(self, size: int | None, already: Collection[int] = ()) -> list[int]:
        """The next members to alert: the first `size` of `order` not alerted yet (all without `size`)."""
        remaining = [member for member in self.order if member not in already] if already else list(self.order)
        return remaining if size is None else remaining[:size]


def _minute(now: datetime, zone: tzinfo) -> int:
    local = now.astimezone(zone)
    return local.hour * 60 + local.minute


def _on_duty(hours: DutyWindow | None, window: DutyWindow | None, minute: int) -> bool:
    """A member's own hours replace the layer's window (windows.is_on_duty); neither: always."""
    own = hours if hours is not None else window
    return own is None or own.contains(minute)


class DutyGroup(NamedTuple):
    """How many of a layer's reachable members share a pause state and own hours now."""

    paused: bool
    hours: DutyWindow | None
    members: int


@dataclass(frozen=True)
class DutyCount:
    members: int  # reachable members of the layer
    paused: int
    on_duty: int  # reachable, unpaused, on duty now


def count_layer(groups: Iterable[DutyGroup], *, now: datetime, zone: tzinfo,
                window: DutyWindow | None = None) -> DutyCount:
    """plan_layer's counts (reachable, paused, on duty) without its order: from the layer's members
    grouped by pause and own hours, so counting a layer holds no row per member."""
    minute = _minute(now, zone)
    members = paused = on = 0
    for group in groups:
        members += group.members
        if group.paused:
            paused += group.members
        elif _on_duty(group.hours, window, minute):
            on += group.members
    return DutyCount(members, paused, on)


def plan_layer(candidates: Iterable[Candidate], *, quorum: int, now: datetime, zone: tzinfo,
               window: DutyWindow | None = None, report_zone: str | None = None,
               zone_first: bool = False) -> LayerPlan:
    on: list[Candidate] = []
    off: list[Candidate] = []
    paused = 0
    minute = _minute(now, zone)  # the network's clock, read once for the whole layer
    for candidate in candidates:
        if candidate.paused_until is not None and candidate.paused_until > now:
            paused += 1
            continue
        if _on_duty(candidate.hours, window, minute):
            on.append(candidate)
        else:
            off.append(candidate)
    local_first = zone_first and report_zone is not None

    def key(c: Candidate) -> tuple[bool, datetime, int, int]:
        return (local_first and c.zone != report_zone, c.last_alerted_at or _NEVER, c.load, c.id)

    on.sort(key=key)
    short = max(0, quorum - len(on))
    called = heapq.nsmallest(short, off, key=key) if short else []
    return LayerPlan(order=tuple(c.id for c in on + called), on_duty=len(on), off_duty=len(off), paused=paused,
                     off_duty_called=len(called))
