"""Escalation is driven twice over: by RQ scheduler timers, and by the sweep when a timer is lost."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from rq.registry import ScheduledJobRegistry
from rq.serializers import JSONSerializer
from sqlalchemy import select

from rapidresponse.incidents.models import IncidentLayer
from rapidresponse.jobs import queues
from tests.e2e.harness import Stack, wait_until

REPORTER = "+12125550190"
VERIFIER = "+12125550191"
RESPONDER = "+12125550192"


def report_with_a_silent_verifier(stack: Stack) -> None:
    """One verifier who never answers, one responder; the report alerts the verifier only, and the
    responders' layer not before the verifiers' wait (1 s) is over. Read from the layers' own
    times: on a loaded machine this test may look only after the wait, when layer 2 has gone."""
    stack.member(VERIFIER, roles="responder", trees={"ice": 1})
    stack.member(RESPONDER, roles="responder", trees={"ice": 2})
    stack.start_worker()
    stack.text(REPORTER, "ICE 5th and Main")
    wait_until(lambda: stack.received(VERIFIER))
    with stack.svc.db.session() as session:
        alerted = dict(session.execute(select(IncidentLayer.number, IncidentLayer.alerted_at)).all())
    assert alerted[1] is not None
    assert alerted[2] is None or alerted[2] - alerted[1] >= timedelta(seconds=1)


def test_scheduler_timer_alone_escalates_when_the_sweep_is_off(tmp_path: Path):
    """With the sweep effectively off, the enqueue_at timer alerts layer 2 when the wait is over."""
    stack = Stack(tmp_path, SWEEP_INTERVAL_SECONDS="3600")
    try:
        report_with_a_silent_verifier(stack)
        wait_until(lambda: stack.received(RESPONDER))
        assert "UNVERIFIED" in stack.received(RESPONDER)[0]
    finally:
        stack.close()


def test_sweep_escalates_when_the_timer_is_lost(tmp_path: Path):
    """Redis loses the scheduled timer; the sweep recomputes from the database and alerts layer 2."""
    stack = Stack(tmp_path, SWEEP_INTERVAL_SECONDS="0.5")
    try:
        report_with_a_silent_verifier(stack)
        registry = ScheduledJobRegistry(queue=queues.queue(stack.svc, queues.URGENT), serializer=JSONSerializer)
        wait_until(lambda: registry.get_job_ids())
        for job_id in registry.get_job_ids():
            registry.remove(job_id, delete_job=True)
        assert registry.get_job_ids() == []
        wait_until(lambda: stack.received(RESPONDER))
        assert "UNVERIFIED" in stack.received(RESPONDER)[0]
    finally:
        stack.close()
