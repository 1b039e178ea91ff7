"""The live incident board and the incident page's message to those on the way.

Thin handlers: parse, one call into console.board / console.threads, render or redirect.
"""

from __future__ import annotations

from typing import Any

from flask import flash, jsonify, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from rapidresponse.console import auth, board, threads
from rapidresponse.console.forms import TeamMessageForm
from rapidresponse.console.routes import SITE_NAME, _incident_for_update, _me, _render_incident, _services, bp
from rapidresponse.db import parse_id, utcnow
from rapidresponse.jobs.dispatch import dispatch

POLL_SECONDS = 5  # how often the page's script asks for the board again
REFRESH_SECONDS = 30  # how often the page reloads itself when script is off


def _board(seen: int | None) -> board.Board:
    svc = _services()
    with svc.db.session() as session:
        return board.board(session, svc.cipher, seen)


def _seen() -> int | None:
    """The newest incident id the page had shown (0: there were none); None when absent or not an id."""
    raw = request.args.get("seen", "")
    return 0 if raw == "0" else parse_id(raw)


@bp.get("/incidents")
@auth.login_required
def incident_list() -> str:
    seen = _seen()
    view = _board(seen)
    return render_template("console/incidents.html", board=view, seen=seen if seen is not None else view.newest,
                           poll_seconds=POLL_SECONDS, refresh_seconds=REFRESH_SECONDS)


@bp.get("/incidents/board.json")
@auth.login_required
def board_json() -> BaseResponse:
    """What the board's script polls: the board's live part and the new-report banner as HTML
    (rendered by the page's own templates), the page title, and how many came in since `seen`."""
    seen = _seen()
    view = _board(seen)
    return jsonify(html=render_template("console/_board.html", board=view),
                   banner=render_template("console/_banner.html", board=view),
                   title=f"{view.title} · {SITE_NAME}", newest=view.newest, new=len(view.new))


@bp.post("/incidents/<id:incident_id>/message")
@auth.login_required
def message(incident_id: int) -> Any:
    """The reply box: text everyone on the way."""
    form = TeamMessageForm()
    if not form.validate_on_submit():
        if form.key.errors:  # (a missing CSRF token was already refused, by CSRFProtect)
            return "400 Bad Request: the form was incomplete; reload the page and try again.\n", 400
        return _render_incident(incident_id, message_form=form, status=400)
    svc = _services()
    with svc.db.session() as session:
        outcome = threads.message_on_the_way(svc, session, _incident_for_update(session, incident_id), _me().id,
                                             form.body.data or "", form.key.data or "", utcnow())
    dispatch(svc, outcome.after)
    flash(outcome.message, "ok" if outcome.changed else "info")
    return redirect(url_for("console.incident", incident_id=incident_id))
