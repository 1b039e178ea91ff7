"""Logging set-up. Personal data never reaches a log: code masks numbers with mask_phone, and
this filter masks any phone-number-looking run of digits that slips through anyway."""

from __future__ import annotations

import logging
import os

from rapidresponse.privacy.masking import mask_phone_numbers


class RedactPhoneNumbers(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_phone_numbers(message)
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
