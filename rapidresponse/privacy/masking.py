"""What a log line or a thread may show of a phone number: the last four digits at most."""

from __future__ import annotations

import re

PHONE_LIKE = re.compile(r"\+?\d[\d\-\s().]{6,}\d")
ISO_DATE = re.compile(r"\d{4}-\d\d-\d\d")


def mask_phone(number: str | None) -> str:
    """'+15551234521' -> '…4521'. Anything shorter shows nothing at all."""
    if not number:
        return "…"
    digits = [c for c in number if c.isdigit()]
    if len(digits) < 7:
        return "…"
    return "…" + "".join(digits[-4:])


def mask_phone_numbers(text: str) -> str:
    """Every phone-number-looking run in free text keeps only its last four digits.

    E.164 (+ and 8 or more digits) or any run of 10 or more digits counts; shorter runs (ids,
    counts) and dates with times are left alone.
    """

    def masked(match: re.Match[str]) -> str:
        found = match.group(0)
        digits = sum(c.isdigit() for c in found)
        looks_like_phone = ((found.startswith("+") and digits >= 8) or digits >= 10) and not ISO_DATE.search(found)
        return mask_phone(found) if looks_like_phone else found

    return PHONE_LIKE.sub(masked, text)
