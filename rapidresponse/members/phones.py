"""Phone numbers: anything a person might type -> E.164, or a clear refusal (pure)."""

from __future__ import annotations

import phonenumbers


class InvalidNumberError(ValueError):
    """Not a phone number that could receive a text; the message says why, without the number."""


def normalize_phone(raw: str, region: str = "US") -> str:
    """'(555) 123-4567' (region US) -> '+15551234567'. Raises InvalidNumberError."""
    text = (raw or "").strip()
    if not text:
        raise InvalidNumberError("no phone number given")
    if len(text) > 40:
        raise InvalidNumberError("too long to be a phone number")
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise InvalidNumberError("not a phone number") from None
    if not phonenumbers.is_possible_number(parsed):
        raise InvalidNumberError("not a possible phone number (wrong number of digits)")
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidNumberError("not a valid phone number for its country")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
