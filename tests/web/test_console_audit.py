"""The console's decisions, reveals and shreds are audited; admins read the log, others get 403."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from rapidresponse import audit
from rapidresponse.audit.models import AuditEvent
from rapidresponse.console.models import Coordinator
from tests.web.test_console_auth import add_coordinator, sign_in
from tests.web.test_console_incidents import REPORT, REPORTER, report

ADMIN_EMAIL = "admin.rosa@example.org"


def make_admin(svc, email=ADMIN_EMAIL) -> int:
    coordinator_id = add_coordinator(svc, email=email)
    with svc.db.session() as session:
        session.get(Coordinator, coordinator_id).is_admin = True
    return coordinator_id


def log_of(svc) -> list[tuple[int | None, str, str | None, int | None]]:
    with svc.db.session() as session:
        return [(e.actor_id, e.action, e.target, e.target_id)
                for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))]


def every_audit_value(svc) -> str:
    with svc.db.session() as session:
        return " ".join(" ".join(str(v) for v in row)
                        for row in session.execute(select(AuditEvent.__table__)).all())


@pytest.mark.parametrize(("decision", "action"), [
    ("confirm", "confirm"), ("false_alarm", "stand_down"), ("resolve", "resolve"), ("drill", "close_drill")])
def test_each_decision_from_the_console_is_audited_once(client, svc, decision, action):
    """Confirm, stand down, resolve and drill each leave one entry: who, what, which incident; a
    decision that changes nothing (already closed) leaves none."""
    me = add_coordinator(svc)
    sign_in(client)
    incident = report(client, svc)
    client.post(f"/incidents/{incident.id}/decision", data={"decision": decision})
    client.post(f"/incidents/{incident.id}/decision", data={"decision": "resolve"})
    expected = [(me, action, "incident", incident.id)]
    if decision == "confirm":
        expected.append((me, "resolve", "incident", incident.id))
    assert log_of(svc) == expected


def test_revealing_numbers_is_audited_without_the_number(client, svc):
    """Showing a masked number records who looked at which incident, never the number or the text."""
    me = add_coordinator(svc)
    sign_in(client)
    incident = report(client, svc, text="ICE at Elm, call +1 212 555 0177")
    assert b"555 0177" in client.post(f"/incidents/{incident.id}/reveal", data={"item": "report"}).data
    assert log_of(svc) == [(me, "reveal", "incident", incident.id)]
    assert client.post("/incidents/99999/reveal", data={"item": "report"}).status_code == 404
    assert len(log_of(svc)) == 1
    values = every_audit_value(svc)
    for leak in ("0177", "Elm", REPORTER[-4:], REPORT):
        assert leak not in values


def test_admins_read_the_log_newest_first(client, svc):
    """The audit page lists entries newest first, each as who did what to which record."""
    make_admin(svc)
    sign_in(client, email=ADMIN_EMAIL)
    incident = report(client, svc)
    client.post(f"/incidents/{incident.id}/decision", data={"decision": "confirm"})
    client.post(f"/incidents/{incident.id}/decision", data={"decision": "resolve"})
    page = client.get("/admin/audit").data.decode()
    assert page.index(f"resolved incident #{incident.id}") < page.index(f"confirmed incident #{incident.id}")
    assert ADMIN_EMAIL in page


def test_the_log_is_paged(client, svc):
    """Past 50 entries the log has an Older link, and a page number out of range shows the last page."""
    make_admin(svc)
    sign_in(client, email=ADMIN_EMAIL)
    with svc.db.session() as session:
        from rapidresponse.db import utcnow
        for n in range(1, 61):
            audit.record(session, None, audit.AuditAction.REVEAL, utcnow(), target=audit.Target.INCIDENT, target_id=n)
    first = client.get("/admin/audit").data.decode()
    assert "incident #60<" in first and "incident #11<" in first and "incident #10<" not in first
    assert "Older" in first
    last = client.get("/admin/audit?page=99").data.decode()
    assert "incident #10<" in last and "incident #1<" in last and "incident #11<" not in last
    assert "page 2 of 2" in last


def test_a_coordinator_who_is_not_an_admin_gets_403(client, svc):
    """The audit log is for admins: a coordinator is refused, a signed-out visitor sent to sign in."""
    assert client.get("/admin/audit").headers["Location"] == "/login?next=/admin/audit"
    add_coordinator(svc)
    sign_in(client)
    assert client.get("/admin/audit").status_code == 403
    assert b"Audit log" not in client.get("/incidents").data


def test_shred_needs_the_typed_word_and_is_audited(client, svc):
    """An admin types SHRED: every incident and message goes, members stay, the log says who did it.
    Anything else typed deletes nothing and says why."""
    from sqlalchemy import func

    from rapidresponse.incidents.models import Incident
    from rapidresponse.members.models import Member
    from tests.conftest import add_member

    admin = make_admin(svc)
    sign_in(client, email=ADMIN_EMAIL)
    add_member(svc, "+12125550140", roles="responder", trees={"ice": 1})
    report(client, svc)
    assert "every incident (1 now)" in client.get("/admin/shred").data.decode()
    for typed in ("", "shred", "SHRED IT", "yes"):
        refused = client.post("/admin/shred", data={"typed": typed})
        assert refused.status_code == 400 and "Nothing was deleted" in refused.data.decode()
    with svc.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Incident)) == 1
    done = client.post("/admin/shred", data={"typed": " SHRED "}, follow_redirects=True)
    assert "Deleted 1 incident and " in done.data.decode()
    with svc.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Incident)) == 0
        assert session.scalar(select(func.count()).select_from(Member)) == 1
    assert log_of(svc) == [(admin, "shred", None, None)]


def test_shred_is_for_admins_only(client, svc):
    """A coordinator who is not an admin gets 403 on the shred page and its button; nothing is deleted."""
    add_coordinator(svc)
    sign_in(client)
    incident = report(client, svc)
    assert client.get("/admin/shred").status_code == 403
    assert client.post("/admin/shred", data={"typed": "SHRED"}).status_code == 403
    from rapidresponse.incidents.models import Incident
    with svc.db.session() as session:
        assert session.get(Incident, incident.id) is not None
