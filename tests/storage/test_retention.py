"""Retention: old closed incidents and messages are deleted; members and open incidents stay."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from rapidresponse.cli import main
from rapidresponse.db import utcnow
from rapidresponse.escalation.service import evaluate
from rapidresponse.incidents.models import Incident, ThreadEvent
from rapidresponse.incidents.responses import close_incident
from rapidresponse.incidents.states import IncidentStatus
from rapidresponse.members.models import Member
from rapidresponse.messaging.models import InboundMessage, OutboundMessage
from rapidresponse.privacy.retention import purge
from tests.conftest import Phone, add_member


def count(svc, model) -> int:
    with svc.db.session() as session:
        return int(session.scalar(select(func.count()).select_from(model)))


def report_and_alert(client, svc, body: str, phone: str) -> int:
    Phone(client, phone).reply_to(body)
    with svc.db.session() as session:
        incident = session.scalars(select(Incident).order_by(Incident.id.desc())).first()
        evaluate(svc, session, incident.id, utcnow())
        return incident.id


def age_everything(svc, days: int) -> None:
    """Move every record's clock back, as if it all happened `days` ago."""
    then = utcnow() - timedelta(days=days)
    with svc.db.session() as session:
        for incident in session.scalars(select(Incident)):
            incident.opened_at = then
            incident.closed_at = then if incident.closed_at else None
        for message in session.scalars(select(OutboundMessage)):
            message.created_at, message.status = then, "delivered"
        for inbound in session.scalars(select(InboundMessage)):
            inbound.received_at = then


def test_old_closed_incidents_go_and_open_ones_stay(client, svc):
    """After the retention period a closed incident and its thread are gone; an open one is untouched."""
    add_member(svc, "+12125550180", roles="responder", trees={"ice": 1, "copwatch": 1})
    closed = report_and_alert(client, svc, "ICE 5th and Main", "+12125550181")
    still_open = report_and_alert(client, svc, "COPWATCH stop on Elm", "+12125550182")
    with svc.db.session() as session:
        close_incident(svc, session, session.get(Incident, closed), IncidentStatus.RESOLVED, utcnow(),
                       actor="coordinator #1")
    age_everything(svc, 90)
    with svc.db.session() as session:
        purged = purge(session, utcnow() - timedelta(days=60))
    assert purged.incidents == 1
    with svc.db.session() as session:
        assert session.get(Incident, closed) is None
        assert session.get(Incident, still_open) is not None
        kept = session.scalars(select(ThreadEvent.incident_id).distinct()).all()
        assert set(kept) == {still_open}
        # The open incident's report text is kept with it.
        assert session.scalar(select(func.count()).select_from(InboundMessage).where(
            InboundMessage.id == session.get(Incident, still_open).inbound_message_id)) == 1
    assert count(svc, Member) == 1  # members stay (an opted-out one must stay out)


def test_recent_records_are_kept(client, svc):
    """Nothing younger than the retention period is touched."""
    report_and_alert(client, svc, "ICE 5th and Main", "+12125550183")
    before = (count(svc, Incident), count(svc, InboundMessage), count(svc, OutboundMessage))
    with svc.db.session() as session:
        purged = purge(session, utcnow() - timedelta(days=60))
    assert purged.incidents == purged.texts_in == purged.texts_out == 0
    assert (count(svc, Incident), count(svc, InboundMessage), count(svc, OutboundMessage)) == before


def test_db_purge_command_reports_what_it_deleted(client, svc, env, monkeypatch, capsys):
    """`rapidresponse db purge --days 30` deletes old help exchanges with strangers and says so."""
    Phone(client, "+12125550184").reply_to("HELP")
    age_everything(svc, 45)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert main(["db", "purge", "--days", "30"]) == 0
    assert "1 texts sent, 1 texts received" in capsys.readouterr().out
    assert count(svc, InboundMessage) == 0
