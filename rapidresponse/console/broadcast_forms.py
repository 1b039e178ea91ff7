"""The broadcast forms (each carries flask-wtf's CSRF token). Choices are filled per request
from the trees file and the zones members are in; the domain (broadcasts/service.py) checks
values again, so a crafted request gets the same clear refusal."""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, SelectMultipleField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Regexp
from wtforms.widgets import CheckboxInput, ListWidget

from rapidresponse.broadcasts.service import MAX_TEXT, TEMPLATE_NAME_MAX
from rapidresponse.i18n import LANGUAGES, language_name

# What the form's idempotency key looks like (secrets.token_urlsafe(24): 32 characters).
KEY_PATTERN = r"^[A-Za-z0-9_-]{16,64}$"


def choices(pairs: list[tuple[str, str]]) -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in pairs]


class Checkboxes(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def pre_validate(self, form: Any) -> None:
        """Unknown values are the domain's to refuse, with a sentence naming them."""


class BroadcastForm(FlaskForm):
    key = HiddenField(validators=[DataRequired(message="This form has expired: open New broadcast again."),
                                  Regexp(KEY_PATTERN, message="This form has expired: open New broadcast again.")])
    places = Checkboxes("Trees and layers", choices=[])
    zones = Checkboxes("Zones", choices=[])
    languages = Checkboxes("Languages", choices=[SelectChoice(lang, language_name(lang)) for lang in LANGUAGES])
    drill = BooleanField("Drill: mark every text DRILL / SIMULACRO")
    # An identical broadcast went out minutes ago (another coordinator?): send this one as well.
    send_anyway = BooleanField("Send it anyway")

    def texts(self) -> dict[str, str]:
        return {lang: getattr(self, f"text_{lang}").data or "" for lang in LANGUAGES}


for _language in LANGUAGES:
    setattr(BroadcastForm, f"text_{_language}", TextAreaField(
        language_name(_language), validators=[Length(max=MAX_TEXT * 2)]))


class TemplateForm(BroadcastForm):
    name = StringField("Template name", validators=[
        DataRequired(message="Give the template a name, e.g. \"meeting tonight\"."),
        Length(max=TEMPLATE_NAME_MAX, message=f"A template's name is at most {TEMPLATE_NAME_MAX} characters.")])


class CancelForm(FlaskForm):
    pass


class DeleteTemplateForm(FlaskForm):
    pass
