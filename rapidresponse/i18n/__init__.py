"""render(key, language, **params) with no request needed; one TOML catalog per language."""

from rapidresponse.i18n.catalog import LANGUAGES, MissingMessageError, language_name, render

__all__ = ["LANGUAGES", "MissingMessageError", "language_name", "render"]
