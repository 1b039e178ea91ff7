"""Bulk sending (welcome texts, later broadcasts) steps aside for urgent work waiting in the queue."""

from __future__ import annotations

import pytest

from rapidresponse.jobs import queues, tasks
from rapidresponse.messaging import outbox
from rapidresponse.messaging.models import Purpose
from rapidresponse.messaging.sender import Sender


@pytest.fixture
def sender(svc, monkeypatch):
    sender = Sender(svc)
    monkeypatch.setattr(tasks, "process_sender", lambda: sender)
    yield sender
    sender.close()


def welcome_texts(svc, count: int) -> list[int]:
    from rapidresponse.db import utcnow

    with svc.db.session() as session:
        return outbox.record(session, svc.cipher, [
            outbox.Text(to=f"+1212555{4000 + n:04d}", body="Welcome", purpose=Purpose.WELCOME,
                        dedupe_key=f"welcome-test:{n}") for n in range(count)
        ], utcnow())


def test_a_bulk_batch_requeues_its_rest_behind_a_waiting_alert(svc, twilio_api, sender):
    """With an urgent job queued, a bulk batch sends one chunk and puts the rest back on the bulk queue."""
    ids = welcome_texts(svc, sender.chunk * 2 + 1)
    queues.enqueue(svc, queues.URGENT, "rapidresponse.jobs.tasks.escalate", 999999)
    outcome = tasks.send_now(svc, ids, bulk=True)
    assert outcome.sent == sender.chunk
    bulk = queues.queue(svc, queues.BULK)
    [job] = bulk.get_jobs()
    assert job.args == [ids[sender.chunk:], True]


def test_a_bulk_batch_runs_through_when_nothing_urgent_waits(svc, twilio_api, sender):
    """With no urgent work queued, the whole bulk batch goes out in one job."""
    ids = welcome_texts(svc, sender.chunk * 2 + 1)
    outcome = tasks.send_now(svc, ids, bulk=True)
    assert outcome.sent == len(ids) and outcome.deferred == []
    assert queues.queue(svc, queues.BULK).count == 0
