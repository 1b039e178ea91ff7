"""Incident and layer statuses (pure)."""

from __future__ import annotations

from enum import Enum


class IncidentStatus(str, Enum):
    REPORTED = "reported"
    VERIFYING = "verifying"
    CONFIRMED = "confirmed"
    RESOLVED = "resolved"
    FALSE_ALARM = "false_alarm"
    DRILL = "drill"

    @property
    def is_open(self) -> bool:
        return self in OPEN_STATUSES


OPEN_STATUSES = frozenset({IncidentStatus.REPORTED, IncidentStatus.VERIFYING, IncidentStatus.CONFIRMED})


class LayerStatus(str, Enum):
    WAITING = "waiting"  # not alerted yet
    ALERTED = "alerted"  # send intents recorded; due_at says when the next layer may go
    SKIPPED = "skipped"  # nobody in it
    NOT_NEEDED = "not_needed"  # quorum reached or incident closed before its turn
