"""Privacy by construction: field encryption, blind index, log masking (pure; no Flask)."""

from rapidresponse.privacy.crypto import FieldCipher
from rapidresponse.privacy.masking import mask_phone

__all__ = ["FieldCipher", "mask_phone"]
