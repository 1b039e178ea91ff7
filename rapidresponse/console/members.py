"""The members pages: search and read (every coordinator); add, edit, remove, import, export (admins).

Registered on the console blueprint (imported at the end of console/routes.py). Handlers stay thin:
a form becomes the same checked row a CSV import makes (members/importer.py), so a member added
here and one imported with `rapidresponse members import` pass the same checks and the same code;
searching and removing are members/directory.py, as the CLI's list and remove.
"""

from __future__ import annotations

from typing import Any

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from sqlalchemy.exc import IntegrityError
from wtforms import BooleanField, FileField, HiddenField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length

from rapidresponse import audit, csrf
from rapidresponse.console import auth
from rapidresponse.console.duty import duty_facts
from rapidresponse.console.routes import _me, _services, bp
from rapidresponse.db import parse_id, utcnow
from rapidresponse.duty import service as duty
from rapidresponse.i18n import LANGUAGES, language_name
from rapidresponse.incidents.service import AfterCommit
from rapidresponse.jobs import queues
from rapidresponse.jobs.dispatch import dispatch
from rapidresponse.members import directory, importer, registry
from rapidresponse.members.models import Channel, Member, MemberStatus, Role
from rapidresponse.privacy.crypto import DecryptionError
from rapidresponse.privacy.masking import mask_phone

# A 10,000-member sheet is about 600 KB; the rest of the app keeps its 64 KiB limit.
IMPORT_MAX_BYTES = 2 * 1024 * 1024
ROLE_CHOICES = [r.value for r in Role if r != Role.MEMBER]
CHANNEL_LABELS = {Channel.SMS: "text messages", Channel.VOICE: "phone calls", Channel.BOTH: "texts and calls"}


class MemberForm(FlaskForm):
    phone = StringField("Phone number", validators=[Length(max=40)])
    name = StringField("Name (optional)", validators=[Length(max=200)])
    language = SelectField("Language", choices=[SelectChoice(code, language_name(code)) for code in LANGUAGES])
    zone = StringField("Zone (optional)", validators=[Length(max=100)])
    channel = SelectField("Alerts by", choices=[SelectChoice(c.value, CHANNEL_LABELS[c]) for c in Channel],
                          default=Channel.SMS.value)
    welcome = BooleanField("Text them a welcome (how to leave)")


class ImportForm(FlaskForm):
    file = FileField("CSV file")
    welcome = BooleanField("Text a welcome to each member the import makes active")


class ImportConfirmForm(FlaskForm):
    upload = HiddenField()  # the checked file, encrypted with DATA_KEY: nothing is kept between the steps
    welcome = HiddenField()


class ButtonForm(FlaskForm):
    """Remove, export: the CSRF token only."""


def _trees() -> Any:
    return _services().trees


def _values_from(form: MemberForm) -> dict[str, str]:
    """The form as a CSV row's cells: roles like responder;coordinator, trees like ice:1;eviction:2."""
    roles = [r for r in request.form.getlist("roles") if r]
    trees = [f"{name}:{request.form.get('tree-' + name, '').strip()}" for name in _trees().trees
             if request.form.get("tree-" + name, "").strip()]
    return {"phone": (form.phone.data or "").strip(), "name": (form.name.data or "").strip(),
            "language": form.language.data or "", "zone": (form.zone.data or "").strip(),
            "roles": ";".join(roles), "trees": ";".join(trees), "channel": form.channel.data or ""}


def _form_page(template: str, form: MemberForm, *, member: directory.MemberView | None = None,
               errors: dict[str, str] | None = None, values: dict[str, str] | None = None, status: int = 200,
               duty_info: dict[str, Any] | None = None) -> Any:
    if values is None:
        values = {"roles": ";".join(member.roles) if member else "",
                  "trees": ";".join(f"{t}:{n}" for t, n in member.trees.items()) if member else ""}
    held_roles = set(values.get("roles", "").split(";"))
    held_trees = dict(item.split(":", 1) for item in values.get("trees", "").split(";") if ":" in item)
    return render_template(template, form=form, member=member, errors=errors or {}, trees=_trees(),
                           role_choices=ROLE_CHOICES, held_roles=held_roles, held_trees=held_trees,
                           button_form=ButtonForm(), duty=duty_info), status


def _problems(rejects: list[importer.Reject]) -> dict[str, str]:
    found: dict[str, str] = {}
    for reject in rejects:
        found.setdefault(reject.column, reject.reason)
    return found


# --- search and read -------------------------------------------------------------------------------


@bp.get("/members")
@auth.login_required
def member_list() -> Any:
    svc = _services()
    q = request.args.get("q", "")[: directory.QUERY_MAX]
    status = request.args.get("status") or None
    if status not in (None, *[s.value for s in MemberStatus]):
        status = None
    tree = request.args.get("tree") or None
    if tree not in (None, *svc.trees.trees):
        tree = None
    page = parse_id(request.args.get("page")) or 1
    with svc.db.session() as session:
        found = directory.search(session, svc.cipher, svc.trees, q, region=svc.settings.default_region,
                                 page=page, status=status, tree=tree)
        total = directory.count(session)
    return render_template("console/members.html", found=found, q=q, status=status, tree=tree, total=total,
                           statuses=directory.STATUS_LABELS, trees=svc.trees, button_form=ButtonForm())


def _member_or_404(session: Any, member_id: int, *, lock: bool = False) -> Member:
    member = session.get(Member, member_id, with_for_update=lock)
    if member is None:
        abort(404)
    return member  # type: ignore[no-any-return]


def _shown(member_id: int) -> directory.MemberView:
    svc = _services()
    with svc.db.session() as session:
        return directory.view(svc.cipher, _member_or_404(session, member_id))


def _duty_of(member_id: int) -> dict[str, Any]:
    """Pause, hours and the last 30 days' load (counts) for the member's page."""
    svc = _services()
    now = utcnow()
    with svc.db.session() as session:
        member = _member_or_404(session, member_id)
        return {**duty_facts(member, now, svc.trees.zone_info),
                "load": duty.loads(session, [member_id], now).get(member_id, duty.Load())}


@bp.get("/members/<id:member_id>")
@auth.login_required
def member_page(member_id: int) -> Any:
    member = _shown(member_id)
    form = MemberForm(formdata=None, name=member.name or "", language=member.language, zone=member.zone or "",
                      channel=member.channel or Channel.SMS.value)
    return _form_page("console/member.html", form, member=member, duty_info=_duty_of(member_id))


# --- add, edit, remove (admins) --------------------------------------------------------------------


@bp.get("/members/new")
@auth.admin_required
def new_member() -> Any:
    return _form_page("console/member_new.html", MemberForm(formdata=None))


@bp.post("/members/new")
@auth.admin_required
def add_member() -> Any:
    form = MemberForm()
    if not form.validate_on_submit():
        return _form_page("console/member_new.html", form, values=_values_from(form), status=400)
    svc = _services()
    values = _values_from(form)
    columns = frozenset(importer.COLUMNS)
    rows, rejects = importer.parse_rows(columns, [importer.Record(2, values)], region=svc.settings.default_region,
                                        trees=svc.trees)
    if rejects:
        return _form_page("console/member_new.html", form, errors=_problems(rejects), values=values, status=400)
    [row] = rows
    now = utcnow()
    try:
        with svc.db.session() as session:
            existing = registry.find_by_phone(session, svc.cipher, row.phone)
            if existing is not None:
                reason = (importer.OPTED_OUT if existing.status == MemberStatus.OPTED_OUT.value
                          else f"already a member ({mask_phone(row.phone)}, member #{existing.id}); edit them instead")
                return _form_page("console/member_new.html", form, errors={"phone": reason}, values=values,
                                  status=400)
            result = importer.apply(session, svc.cipher, rows, now=now, welcome=bool(form.welcome.data))
            added = registry.find_by_phone(session, svc.cipher, row.phone)
            assert added is not None
            audit.record(session, _me().id, audit.AuditAction.MEMBER_ADD, now, target=audit.Target.MEMBER,
                         target_id=added.id)
            added_id = added.id
    except IntegrityError:
        return _form_page("console/member_new.html", form, values=values, status=400,
                          errors={"phone": "this number joined by text a moment ago; search for it"})
    if result.welcome_ids:
        dispatch(svc, AfterCommit(send_ids=list(result.welcome_ids)), queue=queues.BULK)
    flash(f"Added {mask_phone(row.phone)}" + (", and texted them a welcome." if result.welcome_ids else "."), "ok")
    return redirect(url_for("console.member_page", member_id=added_id))


EDITABLE = frozenset({"name", "language", "zone", "roles", "trees", "channel"})


@bp.post("/members/<id:member_id>")
@auth.admin_required
def edit_member(member_id: int) -> Any:
    svc = _services()
    form = MemberForm()
    values = _values_from(form)
    with svc.db.session() as session:
        member = _member_or_404(session, member_id, lock=True)
        shown = directory.view(svc.cipher, member)
        if not form.validate_on_submit():
            return _form_page("console/member.html", form, member=shown, values=values, status=400)
        if member.status == MemberStatus.OPTED_OUT.value:
            return _form_page("console/member.html", form, member=shown, values=values, status=400,
                              errors={"row": "they texted STOP: nothing is kept to edit until they text START"})
        details, rejects = importer.parse_details(0, values, trees=svc.trees)
        if rejects:
            return _form_page("console/member.html", form, member=shown, errors=_problems(rejects), values=values,
                              status=400)
        importer.update_member(member, importer.MemberRow(row=0, phone="", columns=EDITABLE, **details), svc.cipher)
        audit.record(session, _me().id, audit.AuditAction.MEMBER_EDIT, utcnow(), target=audit.Target.MEMBER,
                     target_id=member.id)
    flash(f"Saved {shown.number}.", "ok")
    return redirect(url_for("console.member_page", member_id=member_id))


@bp.get("/members/<id:member_id>/remove")
@auth.admin_required
def remove_page(member_id: int) -> Any:
    return render_template("console/member_remove.html", member=_shown(member_id), button_form=ButtonForm())


@bp.post("/members/<id:member_id>/remove")
@auth.admin_required
def remove_member(member_id: int) -> Any:
    if not ButtonForm().validate_on_submit():
        abort(400)
    svc = _services()
    now = utcnow()
    with svc.db.session() as session:
        member = _member_or_404(session, member_id, lock=True)
        number = directory.view(svc.cipher, member).number
        directory.remove(session, svc.cipher, member, now)
        audit.record(session, _me().id, audit.AuditAction.MEMBER_REMOVE, now, target=audit.Target.MEMBER,
                     target_id=member_id)
    flash(f"Removed the member {number} and their places in the trees.", "ok")
    return redirect(url_for("console.member_list"))


# --- import and export (admins) --------------------------------------------------------------------


def _import_page(form: ImportForm | None = None, *, error: str | None = None, preview: importer.Preview | None = None,
                 confirm: ImportConfirmForm | None = None, status: int = 200) -> Any:
    return render_template("console/members_import.html", form=form or ImportForm(formdata=None), error=error,
                           preview=preview, confirm=confirm, columns=importer.COLUMNS), status


def _big_form() -> None:
    """An import may be larger than the app's 64 KiB; the CSRF token is then checked by the form."""
    request.max_content_length = IMPORT_MAX_BYTES


@bp.get("/members/import")
@auth.admin_required
def import_page() -> Any:
    return _import_page()


@bp.post("/members/import")
@auth.admin_required
def import_preview() -> Any:
    """Step 1: check every row and show what would be imported and every row that would be refused.
    Nothing is written."""
    _big_form()
    form = ImportForm()
    if not form.validate_on_submit():
        abort(400, "The form expired or is missing its token; reload the page and try again.")
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _import_page(form, error="Choose a CSV file first.", status=400)
    svc = _services()
    raw = upload.read()
    try:
        preview = _preview(raw, upload.filename)
    except importer.ImportFileError as exc:
        return _import_page(form, error=str(exc), status=400)
    confirm = None
    if not preview.rejects and preview.rows:
        confirm = ImportConfirmForm(formdata=None, upload=svc.cipher.encrypt(raw.decode("utf-8-sig")).decode("ascii"),
                                    welcome="y" if form.welcome.data else "")
    return _import_page(form, preview=preview, confirm=confirm, status=200 if confirm else 400)


def _preview(raw: bytes, label: str) -> importer.Preview:
    svc = _services()
    with svc.db.session() as session:
        return importer.preview(session, svc.cipher, raw, label=label[:80], region=svc.settings.default_region,
                                trees=svc.trees)


@bp.post("/members/import/confirm")
@auth.admin_required
def import_confirm() -> Any:
    """Step 2: the same file, checked again (someone may have texted STOP since), then written."""
    _big_form()
    form = ImportConfirmForm()
    if not form.validate_on_submit() or not form.upload.data:
        abort(400, "The form expired or is missing its token; reload the page and try again.")
    svc = _services()
    try:
        raw = svc.cipher.decrypt(form.upload.data.encode("ascii")).encode("utf-8")
    except (DecryptionError, UnicodeEncodeError):
        abort(400, "That import cannot be read back; upload the file again.")
    label = "the file"
    try:
        columns, records = importer.parse_csv(raw, label=label)
    except importer.ImportFileError as exc:
        return _import_page(error=str(exc), status=400)
    rows, rejects = importer.parse_rows(columns, records, region=svc.settings.default_region, trees=svc.trees)
    now = utcnow()
    try:
        if rejects:
            raise importer.RowsRejectedError(rejects)
        with svc.db.session() as session:
            result = importer.apply(session, svc.cipher, rows, now=now, welcome=form.welcome.data == "y")
            audit.record(session, _me().id, audit.AuditAction.MEMBERS_IMPORT, now, count=result.imported)
    except importer.RowsRejectedError:
        return _import_page(preview=_preview(raw, label), status=400,
                            error="Nothing was imported: rows are refused now (below).")
    except IntegrityError:
        return _import_page(status=400, error="A number in the file joined by text while importing; nothing was "
                                              "imported. Upload the file again.")
    if result.welcome_ids:
        dispatch(svc, AfterCommit(send_ids=list(result.welcome_ids)), queue=queues.BULK)
    flash(f"Imported {result.imported} members ({result.created} new, {result.updated} updated)"
          + (f"; {len(result.welcome_ids)} welcome texts queued." if result.welcome_ids else "."), "ok")
    return redirect(url_for("console.member_list"))


# The app-wide check would read the body under the 64 KiB limit first; these forms check their own
# CSRF token (FlaskForm) once the limit is raised, and refuse with 400 without it.
csrf.exempt(import_preview)
csrf.exempt(import_confirm)


@bp.post("/members/export")
@auth.admin_required
def export_members() -> Any:
    """Every active member with their full number, as a CSV the import reads back. Audited."""
    if not ButtonForm().validate_on_submit():
        abort(400)
    svc = _services()
    now = utcnow()
    with svc.db.session() as session:
        text, count = directory.export_csv(session, svc.cipher)
        audit.record(session, _me().id, audit.AuditAction.MEMBERS_EXPORT, now, count=count)
    return Response(text, mimetype="text/csv", headers={
        "Content-Disposition": f"attachment; filename=members-{now:%Y%m%d}.csv"})
