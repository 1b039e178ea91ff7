"""Console: an incident's after-action page, and the follow-ups debriefs opened ("need support").

Registered on the console blueprint. Figures come from afteraction.service (pure figures over the
incident's own records); a follow-up's number is shown masked, in full only on "Get in touch"
(audited, as every reveal is).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import abort, flash, redirect, render_template, url_for
from flask_wtf import FlaskForm
from markupsafe import Markup
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse

from rapidresponse import audit
from rapidresponse.afteraction import chart
from rapidresponse.afteraction import service as afteraction
from rapidresponse.afteraction.figures import Comparison, Figures, span
from rapidresponse.console import auth, threads
from rapidresponse.console.routes import _me, _services, bp
from rapidresponse.db import utcnow
from rapidresponse.debriefs import service as debriefs
from rapidresponse.debriefs.service import FollowUp
from rapidresponse.incidents.models import Incident, ThreadEvent
from rapidresponse.privacy.masking import mask_phone_numbers


class FollowUpForm(FlaskForm):
    """Only its CSRF token: the follow-up is in the URL."""


@dataclass(frozen=True)
class DebriefLine:
    at: Any
    actor: str
    answer: str
    words: str | None


@dataclass(frozen=True)
class AfterActionView:
    summary: threads.Summary
    figures: Figures
    chart: Markup
    before: threads.Summary | None
    compared: Comparison | None
    debriefs: list[DebriefLine]
    follow_ups: list[FollowUp]


ANSWERS = {"fine": "fine", "support": "needs support", "text": "wrote"}


def _view(incident_id: int) -> AfterActionView:
    svc = _services()
    now = utcnow()
    with svc.db.session() as session:
        incident = session.get(Incident, incident_id)
        if incident is None:
            abort(404)
        summary = threads.summarize(svc.cipher, incident, threads.yes_counts(session, [incident.id])[incident.id])
        figures = afteraction.figures_of(session, svc.cipher, incident, now)
        before, compared = afteraction.comparison(session, svc.cipher, incident, figures, now)
        lines = [DebriefLine(e.at, e.actor or "responder", ANSWERS.get(str((e.detail or {}).get("answer")), "wrote"),
                             mask_phone_numbers(threads.readable(svc.cipher, e.body_token) or "") or None)
                 for e in session.scalars(select(ThreadEvent).where(ThreadEvent.incident_id == incident.id,
                                                                    ThreadEvent.kind == "debrief")
                                          .order_by(ThreadEvent.at, ThreadEvent.id))]
        return AfterActionView(
            summary=summary, figures=figures,
            chart=chart.svg(figures, title=f"{summary.code}: people on the way and reached over time"),
            before=threads.summarize(svc.cipher, before, threads.yes_counts(session, [before.id])[before.id])
            if before is not None else None,
            compared=compared, debriefs=lines, follow_ups=debriefs.follow_ups(session, svc.cipher, incident.id))


@bp.get("/incidents/<id:incident_id>/after-action")
@auth.login_required
def after_action(incident_id: int) -> str:
    return render_template("console/after_action.html", view=_view(incident_id), span=span, form=FollowUpForm())


@bp.get("/follow-ups")
@auth.login_required
def follow_ups() -> str:
    return _render_follow_ups()


def _render_follow_ups(revealed: tuple[int, str] | None = None) -> str:
    svc = _services()
    with svc.db.session() as session:
        items = debriefs.follow_ups(session, svc.cipher)
    return render_template("console/follow_ups.html", items=items, revealed=revealed, form=FollowUpForm())


@bp.post("/follow-ups/<id:debrief_id>/reveal")
@auth.login_required
def follow_up_reveal(debrief_id: int) -> Any:
    """The responder's number, to this coordinator this once (audited), to get in touch."""
    if not FollowUpForm().validate_on_submit():
        abort(400)
    svc = _services()
    with svc.db.session() as session:
        number = debriefs.reveal_number(session, svc.cipher, debrief_id)
        if number is None:
            abort(404)
        audit.record(session, _me().id, audit.AuditAction.REVEAL, utcnow(), target=audit.Target.INCIDENT,
                     target_id=debriefs.incident_of(session, debrief_id))
    return _render_follow_ups((debrief_id, number))


@bp.post("/follow-ups/<id:debrief_id>/done")
@auth.login_required
def follow_up_done(debrief_id: int) -> BaseResponse:
    if not FollowUpForm().validate_on_submit():
        abort(400)
    svc = _services()
    with svc.db.session() as session:
        done = debriefs.mark_done(session, debrief_id, _me().id, utcnow())
    flash("Marked as dealt with." if done else "That follow-up was already dealt with.", "ok" if done else "info")
    return redirect(url_for("console.follow_ups"))
