"""Console pages for call-in campaigns: list, create, a campaign's live page, start, end.

Thin, like broadcasts.py: read the form, one call into campaigns/service.py in a unit of work,
queue what it left to do after the commit, redirect. The page works without script; figures are
counts (who called whom is never shown, nor kept past the call).
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from flask import abort, flash, jsonify, redirect, render_template, url_for
from werkzeug.wrappers import Response as BaseResponse

from rapidresponse.broadcasts import service as broadcasts
from rapidresponse.broadcasts.service import BroadcastError
from rapidresponse.campaigns import figures
from rapidresponse.campaigns import service as campaigns
from rapidresponse.campaigns.service import CampaignError
from rapidresponse.console import auth
from rapidresponse.console.broadcasts import audience_choices
from rapidresponse.console.campaign_forms import CampaignActionForm, CampaignForm
from rapidresponse.console.routes import _me, _services, bp
from rapidresponse.db import utcnow
from rapidresponse.i18n import LANGUAGES, language_name
from rapidresponse.jobs import broadcasts as broadcast_jobs
from rapidresponse.jobs import campaigns as campaign_jobs


def _compose(form: CampaignForm, errors: list[str] | None = None, status: int = 200) -> Any:
    return render_template("console/campaign_new.html", form=form, errors=errors or [],
                           languages=[(lang, language_name(lang)) for lang in LANGUAGES]), status


@bp.get("/campaigns")
@auth.login_required
def campaign_list() -> str:
    svc = _services()
    with svc.db.session() as session:
        rows = campaigns.recent(session, svc.cipher)
    return render_template("console/campaigns.html", rows=rows)


@bp.get("/campaigns/new")
@auth.login_required
def campaign_new() -> Any:
    form = CampaignForm(formdata=None)
    audience_choices(form)
    form.key.data = secrets.token_urlsafe(24)
    form.ask_audience.data = True
    return _compose(form)


@bp.post("/campaigns")
@auth.login_required
def campaign_create() -> Any:
    form = CampaignForm()
    zones = audience_choices(form)
    if not form.validate_on_submit():
        errors = [m for messages in form.errors.values() for m in messages if isinstance(m, str)]
        return _compose(form, errors, 400)
    svc = _services()
    now = utcnow()
    try:
        audience = broadcasts.make_audience(svc.trees, form.places.data or [], form.zones.data or [],
                                            form.languages.data or [], known_zones=zones)
        draft = campaigns.make_draft(
            title=form.title.data or "", targets=form.targets.data or "", scripts=form.scripts(),
            window_start=_utc(form.window_start.data), window_end=_utc(form.window_end.data), audience=audience,
            ask_audience=bool(form.ask_audience.data), join_by_keyword=bool(form.join_by_keyword.data),
            region=svc.settings.default_region, now=now)
    except (CampaignError, BroadcastError) as exc:
        return _compose(form, [str(exc)], 400)
    with svc.db.session() as session:
        campaign_id, new = campaigns.create(session, svc.cipher, draft, key=form.key.data or "",
                                            coordinator_id=_me().id, now=now)
    flash("Campaign saved. Nobody is asked until you start it." if new
          else "This campaign was already saved; here it is.", "ok" if new else "info")
    return redirect(url_for("console.campaign", campaign_id=campaign_id), code=303)


def _utc(value: datetime | None) -> datetime | None:
    """The form's times are UTC (the page says so)."""
    return value.replace(tzinfo=UTC) if value is not None else None


def _page(campaign_id: int) -> figures.Page:
    svc = _services()
    with svc.db.session() as session:
        shown = figures.page(session, svc.cipher, campaign_id, utcnow())
    if shown is None:
        abort(404)
    return shown


@bp.get("/campaigns/<id:campaign_id>")
@auth.login_required
def campaign(campaign_id: int) -> Any:
    shown = _page(campaign_id)
    return render_template("console/campaign.html", page=shown, form=CampaignActionForm(),
                           names={lang: language_name(lang) for lang in LANGUAGES})


@bp.get("/campaigns/<id:campaign_id>/figures.json")
@auth.login_required
def campaign_figures(campaign_id: int) -> Any:
    return jsonify(_page(campaign_id).figures.as_json())


@bp.post("/campaigns/<id:campaign_id>/start")
@auth.login_required
def campaign_start(campaign_id: int) -> BaseResponse:
    if not CampaignActionForm().validate_on_submit():
        abort(400)
    svc = _services()
    try:
        with svc.db.session() as session:
            if campaigns.by_id(session, campaign_id) is None:
                abort(404)
            started = campaigns.start(session, svc.cipher, campaign_id, _me().id, utcnow())
    except CampaignError as exc:
        flash(str(exc), "error")
        return redirect(url_for("console.campaign", campaign_id=campaign_id), code=303)
    if not started.changed:
        flash("This campaign had already started (or ended); nothing was sent again.", "info")
    else:
        if started.broadcast_id is not None:
            broadcast_jobs.start(svc, started.broadcast_id)
        flash("Campaign started: the ask is going out." if started.broadcast_id is not None
              else "Campaign started: members who text ACTION / ACCION get the ask.", "ok")
    return redirect(url_for("console.campaign", campaign_id=campaign_id), code=303)


@bp.post("/campaigns/<id:campaign_id>/end")
@auth.login_required
def campaign_end(campaign_id: int) -> BaseResponse:
    if not CampaignActionForm().validate_on_submit():
        abort(400)
    svc = _services()
    with svc.db.session() as session:
        if campaigns.by_id(session, campaign_id) is None:
            abort(404)
        ended = campaigns.end(session, campaign_id, _me().id, utcnow())
    if ended:
        campaign_jobs.summarise(svc, campaign_id)
    flash("Campaign ended: CALL and DONE now get \u201cno call-in running\u201d." if ended
          else "This campaign had already ended.", "ok" if ended else "info")
    return redirect(url_for("console.campaign", campaign_id=campaign_id), code=303)
