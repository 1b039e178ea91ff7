"""Console: drills — start one on a tree (optionally for a zone), and the list of past drills.

Registered on the console blueprint. The drill itself is drills.service.start, the path a
coordinator's DRILL text takes too.
"""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, url_for
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, Length

from rapidresponse import audit
from rapidresponse.afteraction import service as afteraction
from rapidresponse.afteraction.figures import span
from rapidresponse.console import auth, threads
from rapidresponse.console.routes import _me, _services, bp
from rapidresponse.db import utcnow
from rapidresponse.drills import service as drills
from rapidresponse.escalation.service import tree_label
from rapidresponse.incidents.models import Incident
from rapidresponse.jobs.dispatch import dispatch
from rapidresponse.members import registry

RECENT_DRILLS = 30


class DrillForm(FlaskForm):
    tree = SelectField("Tree", validators=[DataRequired()])
    zone = StringField("Zone (optional)", validators=[Length(max=64)])
    submit = SubmitField("Start the drill")


def _form() -> DrillForm:
    form = DrillForm()
    form.tree.choices = [(name, f"{name} · {tree_label(name, 'en')}") for name in _services().trees.trees]
    return form


def _render(form: DrillForm, status: int = 200) -> tuple[str, int]:
    svc = _services()
    with svc.db.session() as session:
        found = list(session.scalars(select(Incident).where(Incident.drill.is_(True))
                                     .order_by(Incident.opened_at.desc(), Incident.id.desc()).limit(RECENT_DRILLS)))
        counts = threads.yes_counts(session, [i.id for i in found])
        now = utcnow()
        rows = [(threads.summarize(svc.cipher, i, counts[i.id]), afteraction.figures_of(session, svc.cipher, i, now))
                for i in found]
    return render_template("console/drills.html", form=form, drills=rows, span=span,
                           drill_minutes=svc.settings.drill_minutes), status


@bp.get("/drills")
@auth.login_required
def drill_list() -> Any:
    return _render(_form())


@bp.post("/drills")
@auth.login_required
def drill_start() -> Any:
    form = _form()
    if not form.validate_on_submit():
        return _render(form, 400)
    zone = None
    if (form.zone.data or "").strip():
        try:
            zone = registry.normalize_zone(form.zone.data or "")
        except registry.MemberError as exc:
            form.zone.errors = [str(exc)]
            return _render(form, 400)
    svc = _services()
    me = _me()
    now = utcnow()
    with svc.db.session() as session:
        started = drills.start(svc, session, svc.trees.get(form.tree.data), now, actor=threads.coordinator_actor(me.id),
                               zone=zone)
        incident_id, code = started.incident.id, started.incident.code
        if not started.already:
            audit.record(session, me.id, audit.AuditAction.START_DRILL, now, target=audit.Target.INCIDENT,
                         target_id=incident_id)
    dispatch(svc, started.after)
    if started.already:
        flash(f"A drill on {form.tree.data} is already running: {code}.", "info")
    elif started.someone_alerted:
        flash(f"Drill {code} started: its first layer is being alerted, every text marked DRILL.", "ok")
    else:
        flash(f"Drill {code} opened, but the {form.tree.data} tree has nobody to alert.", "info")
    return redirect(url_for("console.incident", incident_id=incident_id))


