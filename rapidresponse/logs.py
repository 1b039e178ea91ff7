"""Logging set-up. Personal data never reaches a log: code masks numbers with mask_phone, and
this filter masks any phone-number-looking run of digits that slips through anyway."""

from __future__ import annotations

import logging
import os
import re

PHONE_LIKE = re.compile(r"\+?\d[\d\-\s().]{6,}\d")


def _mask(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = re.sub(r"\D", "", text)
    # E.164 (+...) or 10+ digits looks like a number; shorter runs are ids and times.
    looks_like_phone = (text.startswith("+") and len(digits) >= 8) or len(digits) >= 10
    return "…" + digits[-4:] if looks_like_phone else text


class RedactPhoneNumbers(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = PHONE_LIKE.sub(_mask, message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def configure_logging() -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactPhoneNumbers())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(os.environ.get("LOG_LEVEL", "INFO").upper())
    for noisy in ("twilio.http_client", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
