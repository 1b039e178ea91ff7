"""Console: missed hotline calls and the recordings of voice reports.

A missed call shows the caller's last four digits; "Call back" shows the number once, as a tel:
link, and is audited like every reveal. A recording is streamed through this server with the
provider account's credentials (the provider's media URL never reaches a browser), to signed-in
coordinators only; each listen is audited. Registered on the console blueprint.
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response as BaseResponse

from rapidresponse.console import auth
from rapidresponse.console.routes import _me, _services, bp
from rapidresponse.db import utcnow
from rapidresponse.hotline import service as hotline
from rapidresponse.messaging.provider import ProviderError


class CallForm(FlaskForm):
    """Only its CSRF token: the call is in the URL."""


@bp.context_processor
def _hotline_helpers() -> dict[str, Any]:
    if auth.current_coordinator() is None:
        return {}
    svc = _services()

    def recordings_of(incident_id: int) -> list[hotline.RecordingLine]:
        with svc.db.session() as session:
            return hotline.recordings_of(session, svc.cipher, incident_id)

    def missed_count() -> int:
        with svc.db.session() as session:
            return hotline.missed_count(session)

    return {"recordings_of": recordings_of, "missed_calls_count": missed_count}


@bp.get("/calls")
@auth.login_required
def missed_calls() -> str:
    return _render_calls()


def _render_calls(revealed: hotline.Revealed | None = None) -> str:
    svc = _services()
    with svc.db.session() as session:
        calls = hotline.missed_calls(session, svc.cipher)
    return render_template("console/calls.html", calls=calls, revealed=revealed, form=CallForm())


@bp.post("/calls/<id:call_id>/call-back")
@auth.login_required
def call_back(call_id: int) -> Any:
    """The caller's number, shown to this coordinator this once (audited), with a tel: link."""
    if not CallForm().validate_on_submit():
        abort(400)
    svc = _services()
    with svc.db.session() as session:
        revealed = hotline.reveal_caller(session, svc.cipher, call_id, _me().id, utcnow())
    if revealed is None:
        abort(404)
    return _render_calls(revealed)


@bp.post("/calls/<id:call_id>/done")
@auth.login_required
def call_done(call_id: int) -> BaseResponse:
    if not CallForm().validate_on_submit():
        abort(400)
    svc = _services()
    with svc.db.session() as session:
        done = hotline.mark_called_back(session, call_id, _me().id, utcnow())
    flash("Marked as dealt with." if done else "That call was already dealt with.", "ok" if done else "info")
    return redirect(url_for("console.missed_calls"))


@bp.get("/incidents/<id:incident_id>/recordings/<id:recording_id>")
@auth.login_required
def recording_audio(incident_id: int, recording_id: int) -> Any:
    """The recording's audio, fetched from the provider for this request and not kept."""
    svc = _services()
    # A browser's player asks again for ranges of the same audio: audit the first request only.
    first = request.headers.get("Range", "bytes=0-").startswith("bytes=0-")
    with svc.db.session() as session:
        sid = hotline.recording_to_play(session, svc.cipher, incident_id, recording_id, _me().id, utcnow(),
                                        audited=first)
    if sid is None:
        abort(404)
    try:
        audio = svc.provider.fetch_recording(sid)
    except ProviderError as exc:
        if exc.http_status == 404:
            abort(404, "The recording is no longer at the provider.")
        abort(502, "The provider did not hand over the recording; try again.")
    return BaseResponse(audio.content, mimetype=audio.content_type, headers={
        "Cache-Control": "no-store", "Content-Disposition": "inline"})
