"""Pause spans, duty windows and the rotation order, pure and on a fixed clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from rapidresponse.duty.rotation import Candidate, plan_layer
from rapidresponse.duty.spans import DEFAULT_PAUSE, MAX_PAUSE, local_time, parse_span, pause_until
from rapidresponse.duty.windows import DutyWindow, WindowError, is_on_duty, parse_window
from rapidresponse.keywords import Action, parse

NOW = datetime(2026, 12, 1, 18, 0, tzinfo=UTC)
CHICAGO = ZoneInfo("America/Chicago")
DAY, HOUR = timedelta(days=1), timedelta(hours=1)


# --- pause spans -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "span"), [
    ("PAUSE", DEFAULT_PAUSE),
    ("PAUSE 3d", 3 * DAY),
    ("pause 12h", 12 * HOUR),
    ("PAUSE 36 hours", 36 * HOUR),
    ("Pause for 2 days", 2 * DAY),
    ("PAUSE a week", 7 * DAY),
    ("PAUSE 1w", 7 * DAY),
    ("PAUSA", DEFAULT_PAUSE),
    ("PAUSA 2 dias", 2 * DAY),
    ("pausa 2 días", 2 * DAY),
    ("PAUSA 5 horas", 5 * HOUR),
    ("Pausa una semana", 7 * DAY),
    ("PAUSA por 3 dias", 3 * DAY),
    ("PAUSA 10d", 10 * DAY),
])  # fmt: skip
def test_pause_spans_in_both_languages(text, span):
    """PAUSE / PAUSA with or without a span parse to that span (24 hours without one)."""
    command = parse(text)
    assert command.action is Action.PAUSE
    assert parse_span(command.argument) == span


@pytest.mark.parametrize("text", ["PAUSE 3", "PAUSE 0d", "PAUSE tomorrow", "PAUSA hasta el lunes", "PAUSE 3 days more"])
def test_a_span_we_do_not_understand_is_none(text):
    """A PAUSE whose span cannot be read is still a PAUSE; the span is None (the reply explains the format)."""
    command = parse(text)
    assert command.action is Action.PAUSE
    assert parse_span(command.argument) is None


def test_a_pause_lasts_30_days_at_most():
    """PAUSE 60d pauses for 30 days and says it was cut."""
    paused = pause_until(NOW, 60 * DAY)
    assert paused.until == NOW + MAX_PAUSE and paused.capped
    assert pause_until(NOW, 30 * DAY) == pause_until(NOW, MAX_PAUSE)
    assert not pause_until(NOW, 30 * DAY).capped


@pytest.mark.parametrize(("text", "action"), [
    ("BACK", Action.BACK), ("back", Action.BACK), ("I'm back", Action.BACK), ("VUELVO", Action.BACK),
    ("ya volví", Action.BACK), ("back door, 2 agents", Action.OTHER), ("K7 BACK", Action.OTHER),
    ("K7 PAUSE", Action.OTHER),
    ("HOURS 6-14", Action.HOURS), ("HORAS 6-14", Action.HOURS), ("horario 22-6", Action.HOURS),
])  # fmt: skip
def test_back_and_hours_keywords(text, action):
    """BACK / VUELVO only as the whole message; after an incident code they are a thread message."""
    assert parse(text).action is action


def test_until_when_reads_in_the_network_time_and_language():
    """The reply says until when in the network's local time, in the member's language."""
    when = datetime(2026, 12, 3, 23, 20, tzinfo=UTC)
    assert local_time(when, CHICAGO, "en") == "Thu Dec 3, 17:20"
    assert local_time(when, CHICAGO, "es") == "jue 3 dic, 17:20"


# --- duty windows ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "window"), [
    ("6-14", DutyWindow(360, 840)), ("05:00-14:00", DutyWindow(300, 840)), ("22-6", DutyWindow(1320, 360)),
    ("6 a 14", DutyWindow(360, 840)), ("22-0", DutyWindow(1320, 1440)), ("0-24", DutyWindow(0, 1440)),
    ("5:30 - 13:45", DutyWindow(330, 825)),
])  # fmt: skip
def test_windows_parse(text, window):
    assert parse_window(text) == window


@pytest.mark.parametrize("text", ["6", "6-6", "25-3", "6:75-9", "morning", ""])
def test_bad_windows_say_how_to_write_one(text):
    with pytest.raises(WindowError):
        parse_window(text)


def local(hour: int, minute: int = 0, day: int = 1) -> datetime:
    """A moment given in Chicago time (the network's), as the UTC instant the clock passes in."""
    return datetime(2026, 12, day, hour, minute, tzinfo=CHICAGO).astimezone(UTC)


@pytest.mark.parametrize(("window", "moment", "on"), [
    ("6-14", local(6), True), ("6-14", local(13, 59), True), ("6-14", local(14), False), ("6-14", local(5, 59), False),
    ("22-6", local(23), True), ("22-6", local(0, 30, day=2), True), ("22-6", local(5, 59), True),
    ("22-6", local(6), False), ("22-6", local(12), False), ("22-6", local(21, 59), False),
])  # fmt: skip
def test_windows_across_midnight_in_the_network_time(window, moment, on):
    """A window whose end comes before its start runs across midnight; the start is in, the end is not."""
    assert parse_window(window).on_duty(moment, CHICAGO) is on


def test_the_same_instant_is_on_duty_in_one_time_zone_and_not_in_another():
    """05:00-14:00 means the network's clock: 12:00 UTC is 06:00 in Chicago but 04:00 in Los Angeles."""
    noon = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    window = parse_window("05:00-14:00")
    assert window.on_duty(noon, CHICAGO)
    assert not window.on_duty(noon, ZoneInfo("America/Los_Angeles"))


def test_windows_follow_daylight_saving_time():
    """06:00 local is on duty the day after the clocks change, though the UTC hour moved."""
    window = parse_window("6-14")
    summer, winter = datetime(2026, 10, 31, 11, 0, tzinfo=UTC), datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
    assert window.on_duty(summer, CHICAGO) and window.on_duty(winter, CHICAGO)  # 06:00 CDT, then 06:00 CST
    assert not window.on_duty(datetime(2026, 11, 2, 11, 0, tzinfo=UTC), CHICAGO)  # 05:00 CST


def test_a_members_hours_replace_the_layers_window():
    """HOURS 22-6 puts a member on duty at night though their layer is on duty 05:00-14:00."""
    layer, own = parse_window("05:00-14:00"), parse_window("22-6")
    assert is_on_duty(own, layer, local(23), CHICAGO)
    assert not is_on_duty(own, layer, local(9), CHICAGO)
    assert is_on_duty(None, layer, local(9), CHICAGO)
    assert is_on_duty(None, None, local(3), CHICAGO)


# --- rotation --------------------------------------------------------------------------------------


def ago(hours: float) -> datetime:
    return NOW - timedelta(hours=hours)


def test_least_recently_alerted_first_then_lightest_load_then_id():
    """Never alerted first, then the longest since an alert; equal times go to the lighter load."""
    plan = plan_layer([
        Candidate(1, last_alerted_at=ago(1)), Candidate(2, last_alerted_at=ago(48)), Candidate(3),
        Candidate(4, last_alerted_at=ago(48), load=1), Candidate(5, last_alerted_at=ago(48), load=5),
        Candidate(6),
    ], quorum=1, now=NOW, zone=CHICAGO)
    assert plan.order == (3, 6, 2, 4, 5, 1)


def test_zone_members_come_first_when_the_layer_asks():
    """With zone first, the report's zone leads, each part in rotation order."""
    members = [Candidate(1, "eastside", last_alerted_at=ago(1)), Candidate(2, "westside"),
               Candidate(3, "eastside", last_alerted_at=ago(5)), Candidate(4, None)]
    assert plan_layer(members, quorum=1, now=NOW, zone=CHICAGO, report_zone="eastside",
                      zone_first=True).order == (3, 1, 2, 4)
    assert plan_layer(members, quorum=1, now=NOW, zone=CHICAGO, report_zone="eastside").order == (2, 4, 3, 1)


def test_paused_members_are_never_alerted_even_when_the_layer_is_short():
    """A pause still running leaves the member out; one that ended an hour ago does not."""
    plan = plan_layer([Candidate(1, paused_until=NOW + HOUR), Candidate(2, paused_until=ago(1)), Candidate(3)],
                      quorum=5, now=NOW, zone=CHICAGO)
    assert plan.order == (2, 3)
    assert plan.paused == 1


def test_off_duty_members_are_added_only_up_to_the_quorum():
    """At 03:00 with a 05:00-14:00 layer: one member on duty by their own hours, quorum 3, so the two
    off-duty members alerted least recently are added; the third off-duty member is left to sleep."""
    at_three = local(3)
    night = parse_window("22-6")
    plan = plan_layer([
        Candidate(1, last_alerted_at=ago(2)), Candidate(2, last_alerted_at=ago(30)), Candidate(3, hours=night),
        Candidate(4),
    ], quorum=3, now=at_three, zone=CHICAGO, window=parse_window("05:00-14:00"))
    assert plan.order == (3, 4, 2)
    assert (plan.on_duty, plan.off_duty, plan.off_duty_called) == (1, 3, 2)


def test_nobody_off_duty_is_woken_when_enough_are_on_duty():
    plan = plan_layer([Candidate(1), Candidate(2, hours=parse_window("22-6")), Candidate(3)],
                      quorum=2, now=local(9), zone=CHICAGO)
    assert plan.order == (1, 3)
    assert plan.off_duty_called == 0


def test_waves_take_the_next_members_in_order_not_yet_alerted():
    plan = plan_layer([Candidate(n) for n in range(1, 8)], quorum=2, now=NOW, zone=CHICAGO)
    assert plan.wave(3) == [1, 2, 3]
    assert plan.wave(3, already={1, 2, 3}) == [4, 5, 6]
    assert plan.wave(3, already={1, 2, 3, 4, 5, 6}) == [7]
    assert plan.wave(None) == list(range(1, 8))
