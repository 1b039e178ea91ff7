"""Admin pages of the console: the audit log (and, as they land, coordinators and the shred button).

Registered on the console blueprint (imported at the end of console/routes.py). Every view here is
`admin_required`: signed-out visitors go to sign in, coordinators who are not admins get 403.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from rapidresponse import audit
from rapidresponse.console import accounts, auth
from rapidresponse.console.forms import AccountActionForm, InviteForm, PasswordForm, ShredForm
from rapidresponse.console.models import Coordinator
from rapidresponse.console.routes import _me, _services, bp
from rapidresponse.db import parse_id, utcnow
from rapidresponse.incidents.models import Incident
from rapidresponse.privacy import shred
from rapidresponse.privacy.crypto import FieldCipher

AUDIT_PAGE_SIZE = 50

# How each action reads in the log: "<who> <verb> <target>".
VERBS = {
    audit.AuditAction.BROADCAST: "sent", audit.AuditAction.BROADCAST_CANCEL: "cancelled",
    audit.AuditAction.CONFIRM: "confirmed", audit.AuditAction.STAND_DOWN: "stood down (false alarm)",
    audit.AuditAction.RESOLVE: "resolved", audit.AuditAction.CLOSE_DRILL: "closed as a drill",
    audit.AuditAction.START_DRILL: "started a drill",
    audit.AuditAction.REVEAL: "revealed the numbers in", audit.AuditAction.SHRED: "shredded every incident",
    audit.AuditAction.MEMBER_ADD: "added", audit.AuditAction.MEMBER_EDIT: "edited",
    audit.AuditAction.MEMBER_REMOVE: "removed", audit.AuditAction.MEMBERS_IMPORT: "imported members",
    audit.AuditAction.MEMBERS_EXPORT: "exported members", audit.AuditAction.INVITE: "invited",
    audit.AuditAction.DISABLE: "disabled", audit.AuditAction.ENABLE: "enabled",
    audit.AuditAction.PASSWORD_RESET: "reset the password of", audit.AuditAction.PASSWORD_SET: "set the password of",
    audit.AuditAction.ADMIN_GRANT: "made an admin:", audit.AuditAction.ADMIN_REVOKE: "removed admin from",
}
TARGETS = {audit.Target.INCIDENT: "incident", audit.Target.MEMBER: "member", audit.Target.BROADCAST: "broadcast",
           audit.Target.COORDINATOR: "coordinator"}


@dataclass(frozen=True)
class AuditLine:
    at: datetime
    who: str
    what: str


def describe(entry: audit.AuditEvent, emails: dict[int, str]) -> AuditLine:
    """One entry as a short sentence (ids only: the log holds nothing else)."""
    if entry.actor_id is None:
        who = "the command line"
    else:
        who = f"coordinator #{entry.actor_id}" + (f" ({emails[entry.actor_id]})" if entry.actor_id in emails else "")
    action = audit.AuditAction(entry.action)
    what = VERBS.get(action, action.value)
    if entry.target is not None:
        target = TARGETS.get(audit.Target(entry.target), entry.target)
        if entry.target == audit.Target.COORDINATOR.value and entry.target_id in emails:
            what += f" {target} #{entry.target_id} ({emails[entry.target_id]})"
        else:
            what += f" {target} #{entry.target_id}" if entry.target_id is not None else f" a {target}"
    if entry.count is not None:
        what += f" ({entry.count})"
    return AuditLine(at=entry.at, who=who, what=what)


def coordinator_emails(session: Session, cipher: FieldCipher) -> dict[int, str]:
    return {cid: cipher.decrypt(token) for cid, token in session.execute(
        select(Coordinator.id, Coordinator.email_token))}


@bp.get("/admin/audit")
@auth.admin_required
def audit_log() -> str:
    svc = _services()
    number = parse_id(request.args.get("page")) or 1
    with svc.db.session() as session:
        found = audit.page(session, number, AUDIT_PAGE_SIZE)
        emails = coordinator_emails(session, svc.cipher)
        lines = [describe(entry, emails) for entry in found.entries]
    return render_template("console/audit.html", page=found, lines=lines)


# --- coordinators ----------------------------------------------------------------------------------


def _coordinators_page(invite_form: InviteForm | None = None, error: str | None = None, status: int = 200) -> Any:
    svc = _services()
    with svc.db.session() as session:
        rows = accounts.accounts(session, svc.cipher, utcnow())
    return render_template("console/coordinators.html", accounts=rows, invite_form=invite_form or InviteForm(),
                           action_form=AccountActionForm(), error=error), status


def _link_page(link: accounts.Link, email: str, invited: bool) -> str:
    return render_template("console/coordinator_link.html", email=email, invited=invited,
                           url=link.url(_services().settings.public_base_url), expires_at=link.expires_at)


@bp.get("/admin/coordinators")
@auth.admin_required
def coordinators() -> Any:
    return _coordinators_page()


@bp.post("/admin/coordinators/invite")
@auth.admin_required
def invite_coordinator() -> Any:
    form = InviteForm()
    if not form.validate_on_submit():
        return _coordinators_page(form, status=400)
    svc = _services()
    try:
        with svc.db.session() as session:
            link = accounts.invite(session, svc.cipher, form.email.data or "", utcnow(), actor_id=_me().id,
                                   admin=bool(form.admin.data))
            email = svc.cipher.decrypt(link.coordinator.email_token)
    except accounts.AccountError as exc:
        return _coordinators_page(form, error=f"Not invited: {exc}.", status=400)
    return _link_page(link, email, invited=True)


@bp.post("/admin/coordinators/<id:coordinator_id>/<any(disable, enable, reset):action>")
@auth.admin_required
def coordinator_action(coordinator_id: int, action: str) -> Any:
    if not AccountActionForm().validate_on_submit():
        abort(400)
    svc = _services()
    now, me = utcnow(), _me()
    try:
        with svc.db.session() as session:
            coordinator = session.get(Coordinator, coordinator_id, with_for_update=True)
            if coordinator is None:
                abort(404)
            email = svc.cipher.decrypt(coordinator.email_token)
            if action == "reset":
                link = accounts.reset_password(session, coordinator, now, actor_id=me.id)
            elif action == "disable":
                changed = accounts.disable(session, coordinator, now, actor_id=me.id)
            else:
                changed = accounts.enable(session, coordinator, now, actor_id=me.id)
    except accounts.AccountError as exc:
        return _coordinators_page(error=f"Nothing changed: {exc}.", status=400)
    if action == "reset":
        return _link_page(link, email, invited=False)
    done = {"disable": f"{email} is disabled; their sessions have ended.",
            "enable": f"{email} can sign in again."}[action]
    flash(done if changed else f"Nothing changed: {email} already was {action}d.", "ok" if changed else "info")
    return redirect(url_for("console.coordinators"))


# --- the one-time link (no sign-in needed: it is how a coordinator gets one) ------------------------

LINK_GONE = ("This link does not work any more: it was used, it expired, or a newer one replaced it. "
             "Ask an admin for a new one.")


@bp.route("/welcome", methods=["GET", "POST"])
def welcome() -> Any:
    svc = _services()
    form = PasswordForm()
    now = utcnow()
    if request.method == "GET":
        token = request.args.get("token", "")
        with svc.db.session() as session:
            found = accounts.link_owner(session, token, now)
            email = svc.cipher.decrypt(found[1].email_token) if found else None
        if found is None:
            return render_template("console/welcome.html", gone=LINK_GONE), 404
        form.token.data = token
        return render_template("console/welcome.html", form=form, email=email)
    token = form.token.data or ""
    with svc.db.session() as session:
        found = accounts.link_owner(session, token, now)
        email = svc.cipher.decrypt(found[1].email_token) if found else None
    if found is None:
        return render_template("console/welcome.html", gone=LINK_GONE), 404
    problem = None if not form.validate_on_submit() else accounts.password_problem(form.password.data or "")
    if problem is not None or form.errors:
        return render_template("console/welcome.html", form=form, email=email, error=problem), 400
    with svc.db.session() as session:
        coordinator = accounts.use_link(session, token, form.password.data or "", now)
    if coordinator is None:
        return render_template("console/welcome.html", gone=LINK_GONE), 404
    flash("Password set. Sign in with it.", "ok")
    return redirect(url_for("console.login"))


# --- shred all incidents ---------------------------------------------------------------------------

SHRED_WORD = "SHRED"


def _shred_page(form: ShredForm | None = None, error: str | None = None, status: int = 200) -> Any:
    svc = _services()
    with svc.db.session() as session:
        incidents = int(session.scalar(select(func.count()).select_from(Incident)) or 0)
    return render_template("console/shred.html", form=form or ShredForm(formdata=None), error=error,
                           incidents=incidents, word=SHRED_WORD), status


@bp.get("/admin/shred")
@auth.admin_required
def shred_page() -> Any:
    return _shred_page()


@bp.post("/admin/shred")
@auth.admin_required
def shred_incidents() -> Any:
    """The incident-only part of `rapidresponse db shred`: every incident, thread and message goes,
    members stay (a STOP stays honoured). Only when SHRED is typed exactly."""
    form = ShredForm()
    if not form.validate_on_submit():
        abort(400)
    if (form.typed.data or "").strip() != SHRED_WORD:
        return _shred_page(form, error=f"Nothing was deleted: type {SHRED_WORD} in capitals to confirm.", status=400)
    svc = _services()
    with svc.db.session() as session:
        done = shred.shred(session, members=False, now=utcnow(), actor_id=_me().id)
    message = (f"Deleted {done.incidents} incident{'' if done.incidents == 1 else 's'} and "
               f"{done.messages} message{'' if done.messages == 1 else 's'}")
    try:
        svc.db.compact()
    except OperationalError:
        flash(message + "; the database could not be compacted now (busy): run `rapidresponse db shred` on the "
              "server with web and workers stopped to be sure nothing is left in its free pages.", "info")
    else:
        flash(message + "; the database is compacted.", "ok")
    return redirect(url_for("console.incident_list"))
