"""When to try again a text the provider refused for now (429, 5xx, 30001/30008). PURE.

Exponential backoff with jitter and a cap, so a storm of refusals spreads out instead of coming
back all at once; never sooner than the provider's Retry-After; and never past the text's
validity (a raid alert that cannot go out in time is dropped, not sent late).
"""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime, timedelta
from random import Random

BASE_SECONDS = 2.0
CAP_SECONDS = 60.0
# A text with no validity period (a reply) is not tried for ever.
MAX_ATTEMPTS_WITHOUT_DEADLINE = 8


def retry_after_seconds(header: str | None, now: datetime) -> float | None:
    """A Retry-After header (seconds, or an HTTP date) as seconds from `now`; None if absent or bad."""
    if not header or not header.strip():
        return None
    value = header.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def next_attempt(attempt: int, now: datetime, *, valid_until: datetime | None, retry_after: str | None,
                 rng: Random, base: float = BASE_SECONDS, cap: float = CAP_SECONDS) -> datetime | None:
    """When to send again after the `attempt`-th try was refused (1 after the first); None to give up.

    The wait is drawn from [ceiling / 2, ceiling] where the ceiling doubles each attempt up to
    `cap` ("equal jitter": spread out, yet never almost immediate).
    """
    ceiling = min(cap, base * 2 ** max(0, attempt - 1))
    wait = ceiling / 2 + rng.uniform(0, ceiling / 2)
    asked = retry_after_seconds(retry_after, now)
    if asked is not None:
        wait = max(wait, asked)
    at = now + timedelta(seconds=wait)
    if valid_until is not None:
        return at if at < valid_until else None
    return at if attempt < MAX_ATTEMPTS_WITHOUT_DEADLINE else None
