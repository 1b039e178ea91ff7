"""Console forms; every one carries flask-wtf's CSRF token."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, HiddenField, PasswordField, StringField, SubmitField, TextAreaField
from wtforms.validators import AnyOf, DataRequired, EqualTo, Length, Regexp

from rapidresponse.console.threads import NOTE_MAX, Decision
from rapidresponse.incidents.responses import RELAY_MAX


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])
    next = HiddenField()
    submit = SubmitField("Sign in")


class LogoutForm(FlaskForm):
    submit = SubmitField("Sign out")


class DecisionForm(FlaskForm):
    # Sent by the button pressed (name="decision" value="confirm" ...), so no choices to render.
    decision = StringField("Decision", validators=[DataRequired(), AnyOf([d.value for d in Decision])])


class NoteForm(FlaskForm):
    body = TextAreaField("Note", validators=[DataRequired(message="Write something first."),
                                             Length(max=NOTE_MAX)])
    submit = SubmitField("Add note")


class TeamMessageForm(FlaskForm):
    """The incident page's reply box: a text to everyone on the way."""

    body = TextAreaField("Message", validators=[DataRequired(message="Write the message first."),
                                                Length(max=RELAY_MAX, message=f"At most {RELAY_MAX} characters.")])
    # Made fresh for each page shown: the same form sent twice is one message (threads.team_message_sent).
    key = HiddenField(validators=[DataRequired(), Regexp(r"^[0-9a-f]{32}$")])
    submit = SubmitField("Text those on the way")


class RevealForm(FlaskForm):
    # "report", or the id of a thread event: which masked text to show in full.
    item = StringField("Item", validators=[DataRequired(), Length(max=12)])


class InviteForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(message="Type their email."), Length(max=254)])
    admin = BooleanField("Admin (manages coordinators and members, exports, reads the audit log)")
    submit = SubmitField("Invite")


class AccountActionForm(FlaskForm):
    """Disable, enable, new link: the URL says which; the form carries only the CSRF token."""


class PasswordForm(FlaskForm):
    token = HiddenField(validators=[DataRequired()])
    password = PasswordField("New password", validators=[DataRequired(message="Choose a password.")])
    again = PasswordField("The same password again",
                          validators=[DataRequired(message="Type it again."),
                                      EqualTo("password", message="The two passwords do not match.")])
    submit = SubmitField("Set password")


class ShredForm(FlaskForm):
    typed = StringField("Type SHRED to confirm", validators=[Length(max=20)])
    submit = SubmitField("Shred all incidents")
