"""The coordinators' console: sign in, the incidents list, an incident's thread, and decisions on it.

Handlers stay thin: parse the form, one call into console.threads inside a unit of work, then
queue what it left to do (only after the commit), flash a line, redirect.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as BaseResponse

from rapidresponse.console import auth, threads
from rapidresponse.console.forms import DecisionForm, LoginForm, LogoutForm, NoteForm, RevealForm, TeamMessageForm
from rapidresponse.console.models import Coordinator
from rapidresponse.db import utcnow
from rapidresponse.incidents.models import Incident
from rapidresponse.jobs.dispatch import dispatch
from rapidresponse.services import Services

bp = Blueprint("console", __name__, template_folder="templates")
SITE_NAME = "Rapid Response"  # the end of every page's title

def _services() -> Services:
    svc: Services = current_app.extensions["rapidresponse"]
    return svc


def _me() -> Coordinator:
    coordinator = auth.current_coordinator()
    assert coordinator is not None  # login_required ran first
    return coordinator


def _when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S UTC") if at else "—"


def _ago(at: datetime | None, now: datetime | None = None) -> str:
    if at is None:
        return ""
    seconds = int(((now or utcnow()) - at).total_seconds())
    if seconds < 0:
        return "in " + _span(-seconds)
    return _span(seconds) + " ago"


def _due(at: datetime, now: datetime | None = None) -> str:
    """'in 2 min', or 'now' once the moment has come (the sweep acts within seconds)."""
    seconds = int((at - (now or utcnow())).total_seconds())
    return "in " + _span(seconds) if seconds > 0 else "now"


def _span(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 86400} d"


@bp.context_processor
def _helpers() -> dict[str, Any]:
    coordinator = auth.current_coordinator()
    return {
        "when": _when, "ago": _ago, "due": _due, "status_label": threads.status_label,
        "layer_status": threads.layer_status, "site_name": SITE_NAME,
        "me": coordinator, "logout_form": LogoutForm() if coordinator else None,
        "my_email": _services().cipher.decrypt(coordinator.email_token) if coordinator else None,
    }


@bp.get("/")
def index() -> BaseResponse:
    return redirect(url_for("console.incident_list"))


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    form = LoginForm()
    if request.method == "GET":
        form.next.data = auth.safe_next(request.args.get("next")) or ""
        return render_template("console/login.html", form=form)
    if not form.validate_on_submit():
        return render_template("console/login.html", form=form), 400
    svc = _services()
    email = form.email.data or ""
    limit = auth.limiter(svc)
    address = request.remote_addr or "unknown"
    attempt = limit.attempt(email, address)
    if not attempt.allowed:
        wait = attempt.retry_after_seconds
        error = ("Too many failed sign-ins. Try again in "
                 + (f"{-(-wait // 60)} minutes." if wait >= 60 else f"{wait} seconds."))
        return render_template("console/login.html", form=form, error=error), 429, {"Retry-After": str(wait)}
    with svc.db.session() as session:
        coordinator = auth.authenticate(session, svc.cipher, email, form.password.data or "")
    if coordinator is None:
        return render_template("console/login.html", form=form, error="Wrong email or password."), 401
    limit.succeeded(email, address)
    auth.sign_in(coordinator)
    return redirect(auth.safe_next(form.next.data) or url_for("console.incident_list"))


@bp.post("/logout")
def logout() -> BaseResponse:
    if not LogoutForm().validate_on_submit():
        abort(400)
    auth.sign_out()
    flash("Signed out.", "ok")
    return redirect(url_for("console.login"))


def _render_incident(incident_id: int, note_form: NoteForm | None = None, status: int = 200,
                     view: threads.IncidentView | None = None, message_form: TeamMessageForm | None = None) -> Any:
    svc = _services()
    if view is None:
        with svc.db.session() as session:
            view = threads.incident_view(session, svc.cipher, incident_id)
    if view is None:
        abort(404)
    return render_template("console/incident.html", view=view, decision_form=DecisionForm(),
                           note_form=note_form or NoteForm(formdata=None),
                           message_form=message_form or TeamMessageForm(formdata=None, key=uuid.uuid4().hex),
                           reveal_form=RevealForm(formdata=None)), status


@bp.get("/incidents/<id:incident_id>")
@auth.login_required
def incident(incident_id: int) -> Any:
    return _render_incident(incident_id)


def _incident_for_update(session: Session, incident_id: int) -> Incident:
    # Row lock on backends that have one: two coordinators deciding at once act one after the other.
    found = session.get(Incident, incident_id, with_for_update=True)
    if found is None:
        abort(404)
    return found


@bp.post("/incidents/<id:incident_id>/decision")
@auth.login_required
def decide(incident_id: int) -> BaseResponse:
    form = DecisionForm()
    if not form.validate_on_submit():
        abort(400)
    svc = _services()
    me = _me()
    with svc.db.session() as session:
        outcome = threads.decide(svc, session, _incident_for_update(session, incident_id),
                                 threads.Decision(form.decision.data), me.id, utcnow())
    dispatch(svc, outcome.after)
    flash(outcome.message, "ok" if outcome.changed else "info")
    return redirect(url_for("console.incident", incident_id=incident_id))


@bp.post("/incidents/<id:incident_id>/reveal")
@auth.login_required
def reveal(incident_id: int) -> Any:
    """Show the numbers masked in the report or one thread event, to this coordinator, this once."""
    form = RevealForm()
    if not form.validate_on_submit():
        abort(400)
    svc = _services()
    with svc.db.session() as session:
        view = threads.reveal(session, svc.cipher, incident_id, form.item.data or "", _me().id, utcnow())
    if view is None:
        abort(404)
    return _render_incident(incident_id, view=view)


@bp.post("/incidents/<id:incident_id>/notes")
@auth.login_required
def add_note(incident_id: int) -> Any:
    form = NoteForm()
    if not form.validate_on_submit():
        return _render_incident(incident_id, note_form=form, status=400)
    svc = _services()
    me = _me()
    with svc.db.session() as session:
        added = threads.add_note(session, svc.cipher, _incident_for_update(session, incident_id), me.id,
                                 form.body.data or "", utcnow())
    flash("Note added." if added else "This incident is closed; notes can no longer be added.",
          "ok" if added else "info")
    return redirect(url_for("console.incident", incident_id=incident_id))


# Pages in their own modules, registered on this blueprint (imported last: they use `bp`).
from rapidresponse.console import admin, board_routes, members  # noqa: E402,F401
from rapidresponse.console import afteraction as _afteraction  # noqa: E402,F401
from rapidresponse.console import broadcasts as _broadcasts  # noqa: E402,F401
from rapidresponse.console import calls as _calls  # noqa: E402,F401
from rapidresponse.console import campaigns as _campaigns  # noqa: E402,F401
from rapidresponse.console import drills as _drills  # noqa: E402,F401
from rapidresponse.console import duty as _duty  # noqa: E402,F401
