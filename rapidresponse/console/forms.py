"""Console forms; every one carries flask-wtf's CSRF token."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, StringField, SubmitField, TextAreaField
from wtforms.validators import AnyOf, DataRequired, Length

from rapidresponse.console.threads import NOTE_MAX, Decision


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



class RevealForm(FlaskForm):
    # "report", or the id of a thread event: which masked text to show in full.
    item = StringField("Item", validators=[DataRequired(), Length(max=12)])
