"""How many SMS segments a text costs (pure; no provider needed).

Carriers bill and deliver per segment, and a long alert split in three arrives out of order on some
phones, so the catalogs are tested against these numbers. The rules follow GSM 03.38 / 3GPP TS 23.038:
a text is GSM-7 when every character is in the basic or extension table (extension characters take
two septets), UCS-2 otherwise. A concatenated message loses room to its header (160 -> 153 septets,
70 -> 67 UTF-16 code units), and a part never ends in the middle of an escape pair or of a surrogate
pair, which is why parts are packed one character at a time rather than computed by division.
"""

from __future__ import annotations

from typing import Literal

Encoding = Literal["GSM-7", "UCS-2"]

# The GSM 03.38 basic character set (the escape code 0x1B itself is not a character a text can hold).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# The extension table: each one is sent as ESC + character, so it costs two septets.
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

GSM7_SINGLE = 160
GSM7_PART = 153
UCS2_SINGLE = 70
UCS2_PART = 67


def encoding(text: str) -> Encoding:
    """'GSM-7' when every character fits the GSM alphabet, else 'UCS-2'."""
    for char in text:
        if char not in GSM7_BASIC and char not in GSM7_EXTENSION:
            return "UCS-2"
    return "GSM-7"


def _units(text: str, enc: Encoding) -> list[int]:
    """The size of each character in the encoding's units (septets or UTF-16 code units)."""
    if enc == "GSM-7":
        return [2 if char in GSM7_EXTENSION else 1 for char in text]
    return [2 if ord(char) > 0xFFFF else 1 for char in text]


def segments(text: str) -> int:
    """The number of SMS segments the text is sent as; an empty text still costs one."""
    enc = encoding(text)
    units = _units(text, enc)
    single, part = (GSM7_SINGLE, GSM7_PART) if enc == "GSM-7" else (UCS2_SINGLE, UCS2_PART)
    if sum(units) <= single:
        return 1
    count, used = 1, 0
    for size in units:
        if used + size > part:
            count, used = count + 1, 0
        used += size
    return count
