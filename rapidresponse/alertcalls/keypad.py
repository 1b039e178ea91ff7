"""What an alert call's keys mean, and how often the alert is played. Pure: no Twilio, no Flask.

The call speaks the alert, then waits for one key: 1 on my way, 2 can't go, * to hear it again.
No key (the Gather timed out) or a key that means nothing plays it again, at most MAX_PLAYS times
in all; after that the call says goodbye. Only 1 or 2 answers: nothing else ever counts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

MAX_PLAYS = 3


class Key(str, Enum):  # noqa: UP042 - the project's convention (STYLE.md)
    ON_MY_WAY = "1"
    CANT_GO = "2"
    REPEAT = "*"


class Next(str, Enum):  # noqa: UP042
    ANSWER = "answer"  # a 1 or a 2: through the same answer path as an SMS YES / NO
    REPLAY = "replay"  # play the alert again (`play` is the play about to start)
    GOODBYE = "goodbye"  # MAX_PLAYS played without an answer


@dataclass(frozen=True)
class Step:
    next: Next
    play: int = 0  # the play about to start, for REPLAY
    yes: bool = False  # for ANSWER
    wrong_key: bool = False  # a key that means nothing was pressed: say so before replaying


def on_keys(digits: str | None, play: int) -> Step:
    """What the keys pressed during play number `play` (1-based) lead to."""
    pressed = (digits or "").strip()
    if pressed == Key.ON_MY_WAY.value:
        return Step(Next.ANSWER, yes=True)
    if pressed == Key.CANT_GO.value:
        return Step(Next.ANSWER, yes=False)
    wrong = pressed not in ("", Key.REPEAT.value)
    if play >= MAX_PLAYS:
        return Step(Next.GOODBYE, wrong_key=wrong)
    return Step(Next.REPLAY, play=max(1, play) + 1, wrong_key=wrong)


def spell_code(code: str) -> str:
    """'K7' -> 'K, 7': read letter by letter, so a code survives a bad line."""
    return ", ".join(code)


def speakable(text: str, code: str) -> str:
    """A reply written for a text, made fit to speak: the incident code spelled out, brackets gone."""
    spoken = re.sub(rf"\[?\b{re.escape(code)}\b\]?", spell_code(code), text)
    return spoken.replace(" - ", ", ")
