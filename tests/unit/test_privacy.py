"""Privacy primitives: masking, field encryption, the blind index."""

from __future__ import annotations

import io
import logging

import pytest
from cryptography.fernet import Fernet

from rapidresponse.logs import RedactPhoneNumbers, configure_logging
from rapidresponse.privacy.crypto import DecryptionError, FieldCipher
from rapidresponse.privacy.masking import mask_phone, mask_phone_numbers


@pytest.mark.parametrize(("number", "shown"), [
    ("+12125550123", "…0123"), ("(212) 555-0123", "…0123"), ("12345", "…"), ("", "…"), (None, "…"),
])
def test_a_number_shows_at_most_its_last_four_digits(number, shown):
    """Masking keeps four digits, and shows nothing of anything too short to be a number."""
    assert mask_phone(number) == shown


@pytest.mark.parametrize(("text", "expected"), [
    ("from +12125550123 at 5th", "from …0123 at 5th"),
    ("call 212-555-0123 now", "call …0123 now"),
    ("message 12345 layer 2", "message 12345 layer 2"),
    ("at 2026-11-23 04:55:13", "at 2026-11-23 04:55:13"),
    ("+52 55 1234 5678 and +1 212 555 0199", "…5678 and …0199"),
])
def test_numbers_in_free_text_are_masked_and_ids_and_times_are_not(text, expected):
    """Phone-shaped runs lose all but four digits; ids, counts and timestamps stay readable."""
    assert mask_phone_numbers(text) == expected


def test_the_log_filter_masks_a_number_that_slipped_into_a_message():
    """Even a careless log call never writes a full number."""
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "texted %s", ("+12125550123",), None)
    RedactPhoneNumbers().filter(record)
    assert record.getMessage() == "texted …0123"


def written(logger: logging.Logger) -> io.StringIO:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(RedactPhoneNumbers())
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return out


def test_a_traceback_never_shows_a_full_number():
    """An exception whose text carries a number is logged, traceback and all, with four digits at most."""
    out = written(logging.getLogger("test.privacy.traceback"))
    try:
        raise ValueError("no member +12125550123")
    except ValueError:
        logging.getLogger("test.privacy.traceback").exception("texting %s failed", "+12125550124")
    text = out.getvalue()
    assert "Traceback" in text and "ValueError: no member …0123" in text and "…0124" in text
    assert "212555012" not in text


def test_stack_info_is_masked_too():
    """stack_info=True writes the stack masked like everything else."""
    out = written(logging.getLogger("test.privacy.stack"))
    logging.getLogger("test.privacy.stack").info("texted", stack_info=True, extra={"to": "+12125550123"})
    assert "Stack (most recent call last)" in out.getvalue() and '"…0123"' in out.getvalue()
    assert "212555012" not in out.getvalue()


def test_every_logger_with_its_own_handler_is_masked(monkeypatch):
    """A library logger that writes through a handler of its own (not the root's) is masked too."""
    own = logging.getLogger("test.privacy.own-handler")
    out = io.StringIO()
    own.handlers[:] = [logging.StreamHandler(out)]
    own.propagate = False
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", list(root.handlers))
    monkeypatch.setattr(root, "level", root.level)
    configure_logging()
    own.warning("from +12125550123")
    assert out.getvalue() == "from …0123\n"


def test_encryption_round_trips_and_is_not_deterministic():
    """The same number encrypts differently each time, so tokens reveal nothing; the index is stable."""
    cipher = FieldCipher(Fernet.generate_key().decode())
    first, second = cipher.encrypt("+12125550123"), cipher.encrypt("+12125550123")
    assert first != second and b"2125550123" not in first
    assert cipher.decrypt(first) == cipher.decrypt(second) == "+12125550123"
    assert cipher.blind_index("+12125550123") == cipher.blind_index("+12125550123")
    assert cipher.blind_index("+12125550123") != cipher.blind_index("+12125550124")


def test_the_blind_index_depends_on_the_key():
    """Without DATA_KEY, a table of hashed phone numbers cannot be matched against the index."""
    one, two = FieldCipher(Fernet.generate_key().decode()), FieldCipher(Fernet.generate_key().decode())
    assert one.blind_index("+12125550123") != two.blind_index("+12125550123")


def test_an_old_key_still_decrypts_during_a_rotation():
    """Tokens written under the previous DATA_KEY open when it is passed as an old key."""
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    token = FieldCipher(old).encrypt("+12125550123")
    assert FieldCipher(new, old).decrypt(token) == "+12125550123"
    with pytest.raises(DecryptionError):
        FieldCipher(new).decrypt(token)
