"""Short incident codes people can type in a reply: a letter or two and a digit or two, like K7 (pure)."""

from __future__ import annotations

import random
from collections.abc import Collection, Iterator

# No I or O (read as 1 and 0), no 0 or 1.
LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
DIGITS = "23456789"
SHORT_CODES = tuple(letter + digit for letter in LETTERS for digit in DIGITS)  # 192 of them


def candidate_codes(rng: random.Random, taken: Collection[str] = (), short_tries: int = 24,
                    long_tries: int = 64) -> Iterator[str]:
    """Codes to try in order, passing over those open incidents hold (`taken`): short ones first,
    drawn from the free ones, then longer ones.

    The caller still inserts under the unique open code, so a code taken meanwhile by another
    report is passed over there (the next one is tried). Knowing the taken codes first matters
    on a busy day: with 150 incidents open, blind draws from the 192 short codes would take four
    or five inserts per report, and with all of them open, 24 failed inserts before a long one.
    Drawn one at a time: each draw from a SystemRandom reads the OS's randomness."""
    free = [code for code in SHORT_CODES if code not in taken]
    for _ in range(min(short_tries, len(free))):
        yield free.pop(rng.randrange(len(free)))
    for _ in range(long_tries):
        code = rng.choice(LETTERS) + rng.choice(LETTERS) + rng.choice(DIGITS) + rng.choice(DIGITS)
        if code not in taken:
            yield code
