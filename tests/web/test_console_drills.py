"""Console drills: start one on a tree from the Drills page, end it from its incident page."""

from __future__ import annotations

from sqlalchemy import select

from rapidresponse.audit.models import AuditEvent
from rapidresponse.incidents.models import Incident, ThreadEvent
from rapidresponse.incidents.service import plan_of
from tests.conftest import add_member
from tests.web.test_console_auth import add_coordinator, sign_in


def drills(svc) -> list[Incident]:
    with svc.db.session() as session:
        found = list(session.scalars(select(Incident).where(Incident.drill.is_(True))).all())
        session.expunge_all()
        return found


def test_drills_page_starts_a_drill_on_the_chosen_tree(client, svc):
    """Start the drill opens a drill on that tree and zone, audited, and shows its incident page marked drill."""
    coordinator_id = add_coordinator(svc)
    sign_in(client)
    add_member(svc, "+12125550161", roles="responder", trees={"eviction": 1})
    page = client.get("/drills")
    assert page.status_code == 200 and b"Start a drill" in page.data and b"eviction" in page.data
    response = client.post("/drills", data={"tree": "eviction", "zone": "Eastside"}, follow_redirects=True)
    assert response.status_code == 200
    [drill] = drills(svc)
    assert plan_of(svc.cipher, drill).name == "eviction" and drill.zone == "eastside" and drill.is_open
    assert b"End the drill" in response.data and b"Mark as drill" not in response.data
    assert f"Drill {drill.code} started".encode() in response.data
    with svc.db.session() as session:
        [entry] = session.scalars(select(AuditEvent).where(AuditEvent.action == "start_drill")).all()
        assert (entry.actor_id, entry.target_id) == (coordinator_id, drill.id)
        first = session.scalars(select(ThreadEvent).where(ThreadEvent.incident_id == drill.id)).first()
        assert first is not None and first.actor == f"coordinator #{coordinator_id}"
    assert drill.code.encode() in client.get("/drills").data


def test_end_the_drill_closes_it_as_a_drill(client, svc):
    """The incident page's End the drill closes it with the status drill."""
    add_coordinator(svc)
    sign_in(client)
    client.post("/drills", data={"tree": "ice", "zone": ""})
    [drill] = drills(svc)
    response = client.post(f"/incidents/{drill.id}/decision", data={"decision": "drill"})
    assert response.status_code == 302
    [ended] = drills(svc)
    assert ended.status == "drill" and not ended.is_open


def test_a_bad_tree_or_zone_is_refused_with_a_reason(client, svc):
    """An unknown tree or a zone with symbols is a 400 that says what is wrong; nothing starts."""
    add_coordinator(svc)
    sign_in(client)
    assert client.post("/drills", data={"tree": "nope"}).status_code == 400
    response = client.post("/drills", data={"tree": "ice", "zone": "<b>east</b>"})
    assert response.status_code == 400 and b"a zone is up to 64 letters" in response.data
    assert drills(svc) == []
