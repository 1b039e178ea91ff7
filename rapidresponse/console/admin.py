"""Admin pages of the console: the audit log (and, as they land, coordinators and the shred button).

Registered on the console blueprint (imported at the end of console/routes.py). Every view here is
`admin_required`: signed-out visitors go to sign in, coordinators who are not admins get 403.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import render_template, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from rapidresponse import audit
from rapidresponse.console import auth
from rapidresponse.console.models import Coordinator
from rapidresponse.console.routes import _services, bp
from rapidresponse.db import parse_id
from rapidresponse.privacy.crypto import FieldCipher

AUDIT_PAGE_SIZE = 50

# How each action reads in the log: "<who> <verb> <target>".
VERBS = {
    audit.AuditAction.BROADCAST: "sent", audit.AuditAction.BROADCAST_CANCEL: "cancelled",
    audit.AuditAction.CONFIRM: "confirmed", audit.AuditAction.STAND_DOWN: "stood down (false alarm)",
    audit.AuditAction.RESOLVE: "resolved", audit.AuditAction.CLOSE_DRILL: "closed as a drill",
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
