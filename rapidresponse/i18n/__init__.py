"""render(key, language, **params) with no request needed; one TOML catalog per language."""

from rapidresponse.i18n.catalog import LANGUAGES, MissingMessageError, Say, language_name, render, say_options

__all__ = ["LANGUAGES", "MissingMessageError", "Say", "language_name", "render", "say_options"]
