"""An alert call's keys (pure): 1 on my way, 2 can't go, * or silence replays, at most 3 plays."""

from __future__ import annotations

import pytest

from rapidresponse.alertcalls.keypad import MAX_PLAYS, Next, Step, on_keys, speakable, spell_code
from rapidresponse.i18n import render, say_options


@pytest.mark.parametrize(("digits", "play", "step"), [
    ("1", 1, Step(Next.ANSWER, yes=True)),
    ("2", 1, Step(Next.ANSWER, yes=False)),
    ("1", 3, Step(Next.ANSWER, yes=True)),  # the last play still takes an answer
    (" 2 ", 2, Step(Next.ANSWER, yes=False)),
    (None, 1, Step(Next.REPLAY, play=2)),
    ("", 2, Step(Next.REPLAY, play=3)),
    ("*", 1, Step(Next.REPLAY, play=2)),
    ("9", 1, Step(Next.REPLAY, play=2, wrong_key=True)),
    ("#", 2, Step(Next.REPLAY, play=3, wrong_key=True)),
    (None, 3, Step(Next.GOODBYE)),
    ("*", 3, Step(Next.GOODBYE)),
    ("0", 3, Step(Next.GOODBYE, wrong_key=True)),
    (None, 7, Step(Next.GOODBYE)),  # a play number past the last is never a fourth play
    (None, 0, Step(Next.REPLAY, play=2)),
])  # fmt: skip
def test_what_the_keys_lead_to(digits, play, step):
    """Each key, at each play, leads to one answer, a replay or goodbye."""
    assert on_keys(digits, play) == step


def test_the_alert_is_played_at_most_three_times():
    """Silence every time: plays 1, 2, 3, then goodbye."""
    play, plays = 1, [1]
    while (step := on_keys(None, play)).next is Next.REPLAY:
        play = step.play
        plays.append(play)
    assert plays == [1, 2, 3] and MAX_PLAYS == 3


@pytest.mark.parametrize(("code", "spelled"), [("K7", "K, 7"), ("AB12", "A, B, 1, 2")])
def test_codes_are_spelled_for_the_line(code, spelled):
    """Codes are read letter by letter."""
    assert spell_code(code) == spelled


@pytest.mark.parametrize("language", ["en", "es"])
def test_the_sms_reply_is_read_back_with_the_code_spelled(language):
    """The same 'Got it: 2 of 3 on the way to K7' a text gets, fit to speak."""
    reply = render("ack.thanks", language, code="K7", count=2, quorum=3)
    spoken = speakable(reply, "K7")
    assert "K7" not in spoken and "K, 7" in spoken
    assert speakable("[K7] Stand down - false alarm.", "K7") == "K, 7 Stand down, false alarm."


@pytest.mark.parametrize(("language", "code", "voice"), [("en", "en-US", "Polly.Joanna"), ("es", "es-MX", "Polly.Mia"),
                                                         ("fr", "en-US", "Polly.Joanna")])
def test_each_language_speaks_with_its_own_voice(language, code, voice):
    """The catalogs give <Say> a language code and a voice that exists for it; unknown languages get English."""
    options = say_options(language)
    assert (options.language, options.voice) == (code, voice)
