"""Inbound text -> Command (pure). The vocabulary per language lives in `vocab.py`."""

from rapidresponse.keywords.parser import Action, Command, normalize, parse
from rapidresponse.keywords.vocab import DEFAULT_REPORT_WORDS

__all__ = ["DEFAULT_REPORT_WORDS", "Action", "Command", "normalize", "parse"]
