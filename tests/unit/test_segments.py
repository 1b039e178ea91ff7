"""SMS segment counting: GSM-7 vs UCS-2, extension characters, concatenation limits."""

from __future__ import annotations

import pytest

from rapidresponse.messaging.segments import GSM7_BASIC, GSM7_EXTENSION, encoding, segments


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "GSM-7"),
        ("ICE at 5th & Main, 2 vans", "GSM-7"),
        ("Desalojo en la calle Peña, ¿puedes ir? ¡Gracias! é ñ ü Ñ Ü É à", "GSM-7"),
        ("price 5€ [a] {b} ~ ^ | \\", "GSM-7"),
        ("línea", "UCS-2"),
        ("acción", "UCS-2"),
        ("más", "UCS-2"),
        ("último", "UCS-2"),
        ("SÍ", "UCS-2"),
        ("Got it — on the way", "UCS-2"),
        ("it’s", "UCS-2"),
        ("…4521", "UCS-2"),
        ("on my way 👍", "UCS-2"),
        ("مرحبا", "UCS-2"),
    ],
)
def test_encoding(text: str, expected: str) -> None:
    """Text is GSM-7 only when every character is in the GSM basic or extension table."""
    assert encoding(text) == expected


def test_tables_do_not_overlap() -> None:
    """No character is both a basic and an extension character."""
    assert not GSM7_BASIC & GSM7_EXTENSION
    assert "\x1b" not in GSM7_BASIC


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 1),
        ("a", 1),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("a" * 459, 3),
        ("a" * 460, 4),
        ("€" * 80, 1),
        ("€" * 81, 2),
        ("a" * 159 + "€", 2),
        ("á" * 70, 1),
        ("á" * 71, 2),
        ("á" * 134, 2),
        ("á" * 135, 3),
        ("😀" * 35, 1),
        ("😀" * 36, 2),
        ("a" * 69 + "😀", 2),
    ],
)
def test_segments(text: str, expected: int) -> None:
    """160/153 septets for GSM-7, 70/67 UTF-16 code units for UCS-2; emoji and € count double."""
    assert segments(text) == expected


def test_escape_pair_is_not_split_across_parts() -> None:
    """An extension character that would straddle a part boundary moves to the next part."""
    # 152 septets, then "€" (2 septets) cannot fit in part one's last septet.
    text = "a" * 152 + "€" + "a" * 152
    assert segments(text) == 3


def test_surrogate_pair_is_not_split_across_parts() -> None:
    """An emoji that would straddle a UCS-2 part boundary moves to the next part."""
    text = "á" * 66 + "😀" + "á" * 66
    assert segments(text) == 3


def test_one_accent_forces_ucs2_limits() -> None:
    """A single á in an otherwise 100-character text makes it two segments."""
    assert segments("a" * 100) == 1
    assert segments("a" * 99 + "á") == 2
