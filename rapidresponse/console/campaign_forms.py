"""The campaign forms (each carries flask-wtf's CSRF token). campaigns/service.py checks every
value again, so a crafted request gets the same sentence as a mistyped one."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, DateTimeLocalField, HiddenField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, Regexp

from rapidresponse.campaigns.service import MAX_TARGETS, SCRIPT_MAX, TARGET_NAME_MAX, TITLE_MAX
from rapidresponse.console.broadcast_forms import KEY_PATTERN, Checkboxes
from rapidresponse.i18n import LANGUAGES, language_name

EXPIRED = "This form has expired: open New campaign again."
WHEN = "%Y-%m-%dT%H:%M"


class CampaignForm(FlaskForm):
    key = HiddenField(validators=[DataRequired(message=EXPIRED), Regexp(KEY_PATTERN, message=EXPIRED)])
    title = StringField("Title", validators=[Length(max=TITLE_MAX * 2)])
    targets = TextAreaField("Targets: one per line, the name, a comma, the number",
                            validators=[Length(max=MAX_TARGETS * (TARGET_NAME_MAX + 40))])
    window_start = DateTimeLocalField("Calls open (UTC)", format=WHEN, validators=[Optional()])
    window_end = DateTimeLocalField("Calls close (UTC)", format=WHEN, validators=[Optional()])
    places = Checkboxes("Trees and layers", choices=[])
    zones = Checkboxes("Zones", choices=[])
    languages = Checkboxes("Languages", choices=[SelectChoice(lang, language_name(lang)) for lang in LANGUAGES])
    ask_audience = BooleanField("Text the ask to this audience when the campaign starts", default=True)
    join_by_keyword = BooleanField("Members may also join by texting ACTION / ACCION")

    def scripts(self) -> dict[str, str]:
        return {lang: getattr(self, f"script_{lang}").data or "" for lang in LANGUAGES}


for _language in LANGUAGES:
    setattr(CampaignForm, f"script_{_language}", TextAreaField(
        language_name(_language), validators=[Length(max=SCRIPT_MAX * 2)]))


class CampaignActionForm(FlaskForm):
    """Start / End: the CSRF token only."""
