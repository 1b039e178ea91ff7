"""Short incident codes people can type in a reply: a letter or two and a digit or two, like K7 (pure)."""

from __future__ import annotations

import random
from collections.abc import Iterator

# No I or O (read as 1 and 0), no 0 or 1.
LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
DIGITS = "23456789"


def candidate_codes(rng: random.Random, short_tries: int = 24, long_tries: int = 64) -> Iterator[str]:
    """Codes to try in order: short ones first (192 exist), then longer ones.

    Drawn one at a time: the first is nearly always free, and each draw from a SystemRandom reads
    the OS's randomness (drawing all 88 up front cost a report ~5 ms on a busy machine)."""
    for _ in range(short_tries):
        yield rng.choice(LETTERS) + rng.choice(DIGITS)
    for _ in range(long_tries):
        yield rng.choice(LETTERS) + rng.choice(LETTERS) + rng.choice(DIGITS) + rng.choice(DIGITS)
