"""What a log line or a thread may show of a phone number: the last four digits at most."""

from __future__ import annotations


def mask_phone(number: str | None) -> str:
    """'+15551234521' -> '…4521'. Anything shorter shows nothing at all."""
    if not number:
        return "…"
    digits = [c for c in number if c.isdigit()]
    if len(digits) < 7:
        return "…"
    return "…" + "".join(digits[-4:])
