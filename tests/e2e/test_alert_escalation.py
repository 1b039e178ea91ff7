"""A report through layered trees with real workers: verify, escalate, quorum, stand down, resolve."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from rapidresponse.incidents.models import Incident, ThreadEvent
from tests.e2e.harness import Stack, wait_until

REPORTER = "+12125550150"
VERIFIER = "+12125550151"
RESPONDERS = ["+12125550152", "+12125550153", "+12125550154"]
SUPPORTER = "+12125550155"


def build_tree(stack: Stack) -> None:
    stack.member(VERIFIER, roles="responder", trees={"ice": 1}, zone="eastside")
    for number in RESPONDERS:
        stack.member(number, roles="responder", trees={"ice": 2})
    stack.member(SUPPORTER, trees={"ice": 3}, language="es")


def test_spanish_responders_get_spanish_alerts_and_drills_are_called_drills(stack: Stack):
    """Each member is alerted in their own language; closing as a drill tells everyone it was one."""
    stack.member(VERIFIER, roles="responder,coordinator", trees={"ice": 1}, language="es")
    stack.start_worker()
    stack.text(REPORTER, "ICE practice at the school")
    code = incident(stack).code
    wait_until(lambda: stack.received(VERIFIER))
    assert "Actividad de ICE" in stack.received(VERIFIER)[0]
    from rapidresponse.db import utcnow
    from rapidresponse.incidents.responses import close_incident
    from rapidresponse.incidents.states import IncidentStatus
    from rapidresponse.jobs.dispatch import dispatch

    with stack.svc.db.session() as session:
        after = close_incident(stack.svc, session, session.get(Incident, incident(stack).id), IncidentStatus.DRILL,
                               utcnow(), actor="coordinator #1")
    dispatch(stack.svc, after)
    # A coordinator too, the verifier also gets the after-action summary (in either order).
    wait_until(lambda: len(stack.received(VERIFIER)) == 3)
    assert f"[{code}] Era un simulacro. Gracias por responder." in stack.received(VERIFIER)
    assert any(t.startswith(f"[{code}] Simulacro cerrado tras") for t in stack.received(VERIFIER))


def incident(stack: Stack) -> Incident:
    with stack.svc.db.session() as session:
        found = session.scalars(select(Incident)).one()
        session.expunge(found)
        return found


def test_unacknowledged_verifier_escalates_unverified_then_quorum_stops_layer_three(stack: Stack):
    """No verifier answers: layer 2 is alerted UNVERIFIED after the wait; 2 YES cover it; layer 3 never hears."""
    build_tree(stack)
    stack.start_worker()
    reply = stack.text(REPORTER, "ICE at 5th and Main, 2 vans")
    code = incident(stack).code
    assert code in reply
    wait_until(lambda: stack.received(VERIFIER))
    assert code in stack.received(VERIFIER)[0]
    assert not stack.received(RESPONDERS[0])  # layer 2 waits for the verifier
    wait_until(lambda: all(stack.received(n) for n in RESPONDERS))
    assert "UNVERIFIED" in stack.received(RESPONDERS[0])[0]
    assert "1 of 2 on the way" in stack.text(RESPONDERS[0], "YES")
    assert "covered" in stack.text(RESPONDERS[1], f"{code} yes").lower()
    # The third responder, alerted but silent, is told it is covered.
    wait_until(lambda: len(stack.received(RESPONDERS[2])) == 2)
    assert "Covered" in stack.received(RESPONDERS[2])[1]
    # A late YES is told who already covers it.
    assert "already covered" in stack.text(RESPONDERS[2], "YES")
    # Layer 3 is never alerted, even after its wait has long passed.
    import time

    time.sleep(2.5)
    assert stack.received(SUPPORTER) == []
    with stack.svc.db.session() as session:
        kinds = [e.kind for e in session.scalars(select(ThreadEvent).order_by(ThreadEvent.id))]
    assert kinds[0] == "report" and "covered" in kinds and kinds.count("acknowledged") == 3


@pytest.fixture
def patient_stack(tmp_path: Path) -> Iterator[Stack]:
    """The verifiers' wait long enough (5 s) that YES and CONFIRM beat it on a loaded machine: with
    the usual 1 s, a slow moment let the timer escalate UNVERIFIED first, and the test failed."""
    s = Stack(tmp_path, verify_wait=5.0)
    try:
        yield s
    finally:
        s.close()


def test_verifier_confirm_alerts_next_layer_at_once_marked_verified(patient_stack: Stack):
    """CONFIRM from a verifier starts layer 2 at once (well before the wait), and the alert says VERIFIED."""
    stack = patient_stack
    build_tree(stack)
    stack.member(VERIFIER.replace("51", "56"), roles="responder", trees={"ice": 1})
    stack.start_worker()
    stack.text(REPORTER, "MIGRA en la esquina de 5th")
    code = incident(stack).code
    wait_until(lambda: stack.received(VERIFIER))
    assert f"CONFIRM {code}" in stack.text(VERIFIER, "YES")  # on the way to check
    assert "confirmed" in stack.text(VERIFIER, f"CONFIRM {code}").lower()
    wait_until(lambda: all(stack.received(n) for n in RESPONDERS))
    assert "VERIFIED" in stack.received(RESPONDERS[0])[0] and "UNVERIFIED" not in stack.received(RESPONDERS[0])[0]
    assert incident(stack).status == "confirmed"


def test_false_alarm_stands_everyone_down(stack: Stack):
    """FALSA K7 from a verifier closes it and everyone already alerted gets a stand-down text."""
    build_tree(stack)
    stack.start_worker()
    stack.text(REPORTER, "ICE 5th and Main")
    code = incident(stack).code
    wait_until(lambda: all(stack.received(n) for n in RESPONDERS))
    assert code in stack.text(VERIFIER, f"FALSA {code}")
    wait_until(lambda: all(len(stack.received(n)) == 2 for n in RESPONDERS))
    assert "Stand down" in stack.received(RESPONDERS[0])[1]
    assert incident(stack).status == "false_alarm"
    import time

    time.sleep(2.5)
    assert stack.received(SUPPORTER) == []  # a closed incident never escalates


def test_resolve_closes_and_frees_the_code(stack: Stack):
    """RESOLVE K7 closes the incident; everyone alerted is told; replies no longer find it."""
    build_tree(stack)
    stack.start_worker()
    stack.text(REPORTER, "ICE 5th and Main")
    code = incident(stack).code
    wait_until(lambda: stack.received(VERIFIER))
    assert f"{code} marked as resolved" in stack.text(VERIFIER, f"RESUELTO {code}")
    found = incident(stack)
    assert found.status == "resolved" and found.open_code is None
    assert "couldn't find" in stack.text(RESPONDERS[0], f"{code} YES")


def test_signed_delivery_callbacks_reach_the_thread(stack: Stack):
    """The fake Twilio's signed status callbacks mark each alert delivered, once, in the thread."""
    build_tree(stack)
    stack.start_worker()
    stack.text(REPORTER, "ICE 5th and Main")
    found = incident(stack)
    wait_until(lambda: stack.received(VERIFIER))

    def delivered() -> list[str]:
        with stack.svc.db.session() as session:
            return [e.detail["status"] for e in session.scalars(
                select(ThreadEvent).where(ThreadEvent.incident_id == found.id, ThreadEvent.kind == "delivery"))]

    wait_until(lambda: "delivered" in delivered())
    statuses = delivered()
    # "queued" shows only when its callback beats the worker's own record of the send.
    assert statuses[-1] == "delivered" and len(statuses) == len(set(statuses))
    assert set(statuses) <= {"queued", "sent", "delivered"}
    assert stack.fake.callback_errors == 0
