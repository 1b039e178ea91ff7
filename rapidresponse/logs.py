"""Logging set-up. Personal data never reaches a log: code masks numbers with mask_phone, and
this filter masks any phone-number-looking run of digits that slips through anyway, in the
message, in an exception's text and traceback, and in stack info. It sits on every handler we
install: the root's (every logger that propagates), and gunicorn's error and access logs."""

from __future__ import annotations

import logging
import os
from typing import Any

from gunicorn.glogging import Logger as GunicornBaseLogger

from rapidresponse.privacy.masking import mask_phone_numbers

_formatter = logging.Formatter()


class RedactPhoneNumbers(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_phone_numbers(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            # Formatters reuse exc_text when it is set: the traceback is written masked.
            record.exc_text = _formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_phone_numbers(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_phone_numbers(record.stack_info)
        return True


def mask_every_handler(*loggers: logging.Logger) -> None:
    for logger in loggers:
        for handler in logger.handlers:
            if not any(isinstance(f, RedactPhoneNumbers) for f in handler.filters):
                handler.addFilter(RedactPhoneNumbers())


def configure_logging() -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactPhoneNumbers())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(os.environ.get("LOG_LEVEL", "INFO").upper())
    for noisy in ("twilio.http_client", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # Loggers that write through handlers of their own rather than the root's.
    mask_every_handler(*(logger for logger in logging.root.manager.loggerDict.values()
                         if isinstance(logger, logging.Logger)))


class GunicornLogger(GunicornBaseLogger):  # type: ignore[misc]
    """gunicorn's logger (config/gunicorn.conf.py: logger_class) with the masking filter on its
    error and access logs, which do not propagate to the root."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        mask_every_handler(self.error_log, self.access_log)
