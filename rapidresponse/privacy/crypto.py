"""Encryption at rest for personal fields, and the keyed hash they are looked up by.

Phone numbers (and message bodies, names, report texts) are stored as Fernet tokens. Equality
look-ups use a blind index: HMAC-SHA256 under a key derived from DATA_KEY, so the database alone
never reveals a number, and a table of hashes of every phone number is useless without the key.
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class DecryptionError(Exception):
    """A stored token does not open with any configured key."""


class FieldCipher:
    """Encrypts fields with DATA_KEY; older keys (for rotation) still decrypt."""

    def __init__(self, data_key: str, *old_keys: str) -> None:
        keys = [data_key, *old_keys]
        self._fernet = MultiFernet([Fernet(k.encode("ascii")) for k in keys])
        # The index key is derived from the current key only: rotating DATA_KEY means re-encrypting
        # and re-indexing everything (privacy/rotation.py, `rapidresponse db rotate-key`); old keys
        # passed here let tokens written under them be read until that is done.
        self._index_key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"rapidresponse blind index v1"
        ).derive(data_key.encode("ascii"))
        # Tags (who holds a role, who is in which tree layer) get a key of their own: a tag can
        # never be matched against a blind index, nor the other way round.
        self._tag_key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"rapidresponse tags v1"
        ).derive(data_key.encode("ascii"))

    def encrypt(self, value: str) -> bytes:
        return self._fernet.encrypt(value.encode("utf-8"))

    def decrypt(self, token: bytes) -> str:
        try:
            return self._fernet.decrypt(bytes(token)).decode("utf-8")
        except InvalidToken:
            raise DecryptionError("stored value does not decrypt with DATA_KEY") from None

    def blind_index(self, value: str) -> str:
        """Keyed hash of a normalized value (an E.164 number), hex; equal inputs give equal outputs."""
        return hmac.new(self._index_key, value.encode("utf-8"), hashlib.sha256).hexdigest()

    def tag(self, value: str) -> str:
        """Keyed tag of a fact like `role:responder` or `ice:1`, hex: without the key, a column of
        tags says nothing, and only a holder of the key can ask who has a given one."""
        return hmac.new(self._tag_key, value.encode("utf-8"), hashlib.sha256).hexdigest()


KEY_CHECK_MESSAGE = b"rapidresponse DATA_KEY check"


def key_check_value(data_key: str) -> str:
    """What the database stores to recognise its DATA_KEY: an HMAC of a constant under a key derived
    from it (its own HKDF label, so it says nothing about the blind index or any token)."""
    check_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                     info=b"rapidresponse key check v1").derive(data_key.encode("ascii"))
    return hmac.new(check_key, KEY_CHECK_MESSAGE, hashlib.sha256).hexdigest()


def opens_with(data_key: str, token: bytes) -> bool:
    """Whether this one key (not its predecessors) decrypts the token."""
    try:
        Fernet(data_key.encode("ascii")).decrypt(bytes(token))
    except InvalidToken:
        return False
    return True
