"""The simulator behaves like a phone network: texts it accepts are reported sent, then delivered,
through the same status path as Twilio's callbacks (the status inbox and its drain job), so the
console reads the same without Twilio."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rq import SimpleWorker
from rq.serializers import JSONSerializer
from sqlalchemy import select

from rapidresponse.incidents import service as incidents
from rapidresponse.incidents.models import ThreadEvent
from rapidresponse.jobs import queues
from rapidresponse.messaging import outbox
from rapidresponse.messaging.models import DeliveryStatus, OutboundMessage, Purpose
from rapidresponse.messaging.sender import Sender
from rapidresponse.messaging.status_inbox import StatusInbox
from rapidresponse.services import Services, process_services
from rapidresponse.settings import Settings
from tests import conftest
from tests.conftest import add_member, row

NOW = datetime(2025, 3, 4, 9, 30, tzinfo=UTC)
RESPONDER = "+12125550160"


@pytest.fixture
def sim_env(tmp_path: Path, database_url: str) -> dict[str, str]:
    return {k: v for k, v in conftest.test_env(tmp_path, database_url).items() if not k.startswith("TWILIO_")}


@pytest.fixture
def sim_svc(sim_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Services]:
    """Simulator services, and the same settings in the environment for the jobs a worker runs here."""
    for key, value in sim_env.items():
        monkeypatch.setenv(key, value)
    process_services.cache_clear()
    with conftest.fresh_services(Settings.from_env(sim_env)) as services:
        yield services
    if process_services.cache_info().currsize:  # the jobs' own services: close what they opened
        jobs_svc = process_services()
        jobs_svc.db.engine.dispose()
        jobs_svc.redis.close()
    process_services.cache_clear()


def alert(svc: Services) -> tuple[int, int]:
    member_id = add_member(svc, RESPONDER, roles="responder", trees={"ice": 2})
    with svc.db.session() as session:
        incident = incidents.open_incident(session, svc.cipher, svc.trees.get("ice"), text="ICE at 5th",
                                           reporter_phone="+12125550199", reporter=None, inbound_id=None, now=NOW)
        [message_id] = outbox.record(session, svc.cipher, [outbox.Text(
            to=RESPONDER, body="RAPID RESPONSE: ICE at 5th. Reply YES if you can go.", purpose=Purpose.ALERT,
            dedupe_key=f"alert:{incident.id}:{member_id}", member_id=member_id, incident_id=incident.id, layer=2,
        )], NOW)
        return incident.id, message_id


def run_worker(svc: Services) -> None:
    """A real RQ worker, in burst mode: runs what is queued, then stops."""
    worker = SimpleWorker([queues.queue(svc, name) for name in queues.ALL], connection=svc.redis,
                          serializer=JSONSerializer)
    assert worker.work(burst=True)


def test_a_simulated_text_is_reported_sent_then_delivered(sim_svc):
    """queued -> sent -> delivered, each a line in the incident's thread, as Twilio's callbacks make."""
    incident_id, message_id = alert(sim_svc)
    sender = Sender(sim_svc)
    try:
        assert sender.send([message_id]).sent == 1
    finally:
        sender.close()
    assert row(sim_svc, OutboundMessage, message_id).status == DeliveryStatus.QUEUED.value
    run_worker(sim_svc)
    sent = row(sim_svc, OutboundMessage, message_id)
    assert sent.status == DeliveryStatus.DELIVERED.value and sent.provider_sid.startswith("SM")
    with sim_svc.db.session() as session:
        lines = session.scalars(select(ThreadEvent).where(ThreadEvent.incident_id == incident_id,
                                                          ThreadEvent.kind == "delivery")
                                .order_by(ThreadEvent.id)).all()
        assert [line.detail["status"] for line in lines] == ["sent", "delivered"]


def test_the_reports_carry_ids_only_and_are_safe_twice(sim_svc):
    """The reports waiting in Redis hold the SID and our id, never a number or a body; applying them
    twice changes nothing."""
    incident_id, message_id = alert(sim_svc)
    sender = Sender(sim_svc)
    try:
        sender.send([message_id])
    finally:
        sender.close()
    inbox = StatusInbox.of(sim_svc)
    waiting = [raw.decode() for raw in sim_svc.redis.lrange(inbox.pending, 0, -1)]
    sid = row(sim_svc, OutboundMessage, message_id).provider_sid
    assert waiting == [f"{sid} sent {message_id} ", f"{sid} delivered {message_id} "]
    assert not any("2125550160" in raw for raw in waiting)
    for raw in waiting:  # the same reports again, as a repeated callback would be
        sim_svc.redis.rpush(inbox.pending, raw)
    run_worker(sim_svc)
    with sim_svc.db.session() as session:
        kinds = [e.detail.get("status") for e in session.scalars(
            select(ThreadEvent).where(ThreadEvent.incident_id == incident_id, ThreadEvent.kind == "delivery"))]
    assert kinds == ["sent", "delivered"]
