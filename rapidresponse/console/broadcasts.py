"""Console pages for broadcasts: compose, confirm, send (once), progress, cancel, templates.

Thin, like routes.py: read the form, one call into broadcasts/service.py in a unit of work, queue
what it left to do after the commit, then redirect. Every page works as a plain form; the small
script (static/broadcasts.js) only adds live counters and the progress refresh.
"""

from __future__ import annotations

import secrets
from typing import Any

from flask import abort, flash, jsonify, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from rapidresponse.broadcasts import service as broadcasts
from rapidresponse.broadcasts.service import Audience, BroadcastError, Draft
from rapidresponse.console import auth
from rapidresponse.console.broadcast_forms import BroadcastForm, CancelForm, DeleteTemplateForm, TemplateForm, choices
from rapidresponse.console.campaign_forms import CampaignForm
from rapidresponse.console.routes import _me, _services, bp
from rapidresponse.db import parse_id, utcnow
from rapidresponse.i18n import LANGUAGES, language_name, render
from rapidresponse.jobs import broadcasts as broadcast_jobs


@bp.context_processor
def _broadcast_helpers() -> dict[str, Any]:
    return {"audience_text": _audience_text}


def _audience_text(audience: Audience) -> str:
    """'ice: whole tree or eviction layer 1: defenders · zone eastside · Español'."""
    if audience.everyone:
        return "everyone active"
    labels = dict(broadcasts.place_choices(_services().trees))
    parts = []
    if audience.places:
        parts.append(" or ".join(labels.get(p, p) for p in audience.places))
    if audience.zones:
        parts.append("zone " + " or ".join(audience.zones))
    if audience.languages:
        parts.append(" or ".join(language_name(lang) for lang in audience.languages))
    return " · ".join(parts)


def audience_choices(form: BroadcastForm | CampaignForm) -> list[str]:
    """Fill the form's trees, layers and zones (a broadcast's or a campaign's); returns the zones
    active members are in."""
    svc = _services()
    with svc.db.session() as session:
        zones = broadcasts.zone_choices(session)
    form.places.choices = choices(broadcasts.place_choices(svc.trees))
    form.zones.choices = choices([(z, z) for z in zones])
    return zones


def _draft(form: BroadcastForm, zones: list[str]) -> Draft:
    """The form as a Draft, or BroadcastError saying what is wrong."""
    svc = _services()
    audience = broadcasts.make_audience(svc.trees, form.places.data or [], form.zones.data or [],
                                        form.languages.data or [], known_zones=zones)
    return Draft(broadcasts.clean_texts(form.texts()), audience, bool(form.drill.data))


def _form_errors(form: BroadcastForm) -> list[str]:
    return [message for errors in form.errors.values() for message in errors if isinstance(message, str)]


def _compose(form: BroadcastForm, *, errors: list[str] | None = None, status: int = 200) -> Any:
    svc = _services()
    audience = Audience()
    try:
        audience = broadcasts.make_audience(svc.trees, form.places.data or [], form.zones.data or [],
                                            form.languages.data or [])
    except BroadcastError:
        pass
    with svc.db.session() as session:
        counted = broadcasts.count(session, svc.cipher, svc.trees, audience)
        saved = broadcasts.templates(session, svc.cipher)
    return render_template(
        "console/broadcast_new.html", form=form, errors=errors or [], counted=counted, templates=saved,
        languages=[(lang, language_name(lang)) for lang in LANGUAGES],
        drill_markers={lang: render("broadcast.drill", lang, text="{text}") for lang in LANGUAGES},
        rate=svc.settings.send_rate_segments_per_second, template_form=DeleteTemplateForm(formdata=None),
    ), status


@bp.get("/broadcasts")
@auth.login_required
def broadcast_list() -> str:
    svc = _services()
    with svc.db.session() as session:
        rows = broadcasts.recent(session, svc.cipher)
    return render_template("console/broadcasts.html", rows=rows)


@bp.get("/broadcasts/new")
@auth.login_required
def broadcast_new() -> Any:
    form = BroadcastForm(formdata=None)
    audience_choices(form)
    form.key.data = secrets.token_urlsafe(24)
    template_id = parse_id(request.args.get("template", ""))
    if request.args.get("template") and template_id is None:
        abort(404)
    if template_id is not None:
        svc = _services()
        with svc.db.session() as session:
            saved = broadcasts.template(session, svc.cipher, template_id)
        if saved is None:
            abort(404)
        for lang in LANGUAGES:
            getattr(form, f"text_{lang}").data = saved.texts.get(lang, "")
        form.drill.data = saved.drill
    return _compose(form)


@bp.post("/broadcasts/edit")
@auth.login_required
def broadcast_edit() -> Any:
    """Back from the confirmation to the form, with everything as it was (and the same key)."""
    form = BroadcastForm()
    audience_choices(form)
    if not form.validate_on_submit():
        return _compose(form, errors=_form_errors(form), status=400)
    return _compose(form)


@bp.get("/broadcasts/audience.json")
@auth.login_required
def broadcast_audience() -> Any:
    """The live recipient count as the audience changes: {"total": 412, "by_language": {...}}."""
    svc = _services()
    try:
        audience = broadcasts.make_audience(svc.trees, request.args.getlist("places"), request.args.getlist("zones"),
                                            request.args.getlist("languages"))
    except BroadcastError as exc:
        return jsonify(error=str(exc)), 400
    with svc.db.session() as session:
        counted = broadcasts.count(session, svc.cipher, svc.trees, audience)
    return jsonify(total=counted.total, by_language=counted.by_language, summary=counted.summary())


def _confirm(form: BroadcastForm, draft: Draft, *, already: int | None = None, duplicate_of: int | None = None,
             status: int = 200) -> Any:
    svc = _services()
    with svc.db.session() as session:
        shown = broadcasts.preview(session, svc.cipher, svc.trees, draft, svc.settings.send_rate_segments_per_second)
    return render_template("console/broadcast_confirm.html", form=form, draft=draft, preview=shown,
                           already=already, duplicate_of=duplicate_of,
                           names={lang: language_name(lang) for lang in LANGUAGES}), status


def _sent_already(key: str) -> int | None:
    svc = _services()
    with svc.db.session() as session:
        return broadcasts.by_key(session, key)


def _posted(form: BroadcastForm) -> tuple[Draft | None, Any]:
    """The posted form as a Draft, or (None, the form again with what is wrong, 400)."""
    zones = audience_choices(form)
    if not form.validate_on_submit():
        return None, _compose(form, errors=_form_errors(form), status=400)
    try:
        return _draft(form, zones), None
    except BroadcastError as exc:
        return None, _compose(form, errors=[str(exc)], status=400)


@bp.post("/broadcasts/preview")
@auth.login_required
def broadcast_preview() -> Any:
    form = BroadcastForm()
    draft, refused = _posted(form)
    if draft is None:
        return refused
    return _confirm(form, draft, already=_sent_already(form.key.data or ""))


@bp.post("/broadcasts")
@auth.login_required
def broadcast_send() -> Any:
    form = BroadcastForm()
    draft, refused = _posted(form)
    if draft is None:
        return refused
    svc = _services()
    try:
        with svc.db.session() as session:
            created = broadcasts.create(session, svc.cipher, draft, key=form.key.data or "", coordinator_id=_me().id,
                                        now=utcnow(), allow_duplicate=bool(form.send_anyway.data))
    except BroadcastError as exc:
        return _compose(form, errors=[str(exc)], status=409)
    if created.duplicate_of is not None:
        return _confirm(form, draft, duplicate_of=created.duplicate_of, status=409)
    if not created.new:
        flash("This broadcast was already sent; it went out once. Here is its progress.", "info")
        return redirect(url_for("console.broadcast", broadcast_id=created.broadcast_id), code=303)
    broadcast_jobs.start(svc, created.broadcast_id)
    flash("Broadcast sending.", "ok")
    return redirect(url_for("console.broadcast", broadcast_id=created.broadcast_id), code=303)


@bp.get("/broadcasts/<id:broadcast_id>")
@auth.login_required
def broadcast(broadcast_id: int) -> Any:
    svc = _services()
    with svc.db.session() as session:
        shown = broadcasts.view(session, svc.cipher, broadcast_id)
    if shown is None:
        abort(404)
    return render_template("console/broadcast.html", view=shown, cancel_form=CancelForm(),
                           names={lang: language_name(lang) for lang in LANGUAGES})


@bp.get("/broadcasts/<id:broadcast_id>/progress.json")
@auth.login_required
def broadcast_progress(broadcast_id: int) -> Any:
    svc = _services()
    with svc.db.session() as session:
        found = broadcasts.progress(session, [broadcast_id]).get(broadcast_id)
    if found is None:
        abort(404)
    return jsonify(found.as_json())


@bp.post("/broadcasts/<id:broadcast_id>/cancel")
@auth.login_required
def broadcast_cancel(broadcast_id: int) -> BaseResponse:
    if not CancelForm().validate_on_submit():
        abort(400)
    svc = _services()
    with svc.db.session() as session:
        if broadcasts.by_id(session, broadcast_id) is None:
            abort(404)
        done = broadcasts.cancel(session, broadcast_id, _me().id, utcnow())
    with svc.db.session() as session:
        counted = broadcasts.progress(session, [broadcast_id])[broadcast_id]
    if done.changed:
        flash(f"Broadcast cancelled: {counted.sent} sent before it stopped, {done.never_sent} never will be.", "ok")
    else:
        flash("This broadcast had already finished; nothing was cancelled.", "info")
    return redirect(url_for("console.broadcast", broadcast_id=broadcast_id), code=303)


@bp.post("/broadcasts/templates")
@auth.login_required
def template_save() -> Any:
    form = TemplateForm()
    draft, refused = _posted(form)
    if draft is None:
        return refused
    try:
        svc = _services()
        with svc.db.session() as session:
            broadcasts.save_template(session, svc.cipher, form.name.data or "", draft.texts, draft.drill, _me().id,
                                     utcnow())
    except BroadcastError as exc:
        return _compose(form, errors=[str(exc)], status=400)
    flash(f"Template \u201c{' '.join((form.name.data or '').split())}\u201d saved.", "ok")
    return _compose(form)


@bp.post("/broadcasts/templates/<id:template_id>/delete")
@auth.login_required
def template_delete(template_id: int) -> BaseResponse:
    if not DeleteTemplateForm().validate_on_submit():
        abort(400)
    svc = _services()
    with svc.db.session() as session:
        if not broadcasts.delete_template(session, template_id):
            abort(404)
    flash("Template deleted.", "ok")
    return redirect(url_for("console.broadcast_new"), code=303)
