"""A drill with real workers, from DRILL by text to the after-action summary: the real tree, every text marked."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from rapidresponse.afteraction import service as afteraction
from rapidresponse.db import utcnow
from rapidresponse.incidents.models import Incident
from tests.e2e.harness import Stack, wait_until

COORDINATOR = "+12125550160"
VERIFIER = "+12125550161"
RESPONDERS = ["+12125550162", "+12125550163", "+12125550164"]
SUPPORTER = "+12125550165"


@pytest.fixture
def patient_stack(tmp_path: Path) -> Iterator[Stack]:
    """Layers wait 30 s: the answers beat every wait on a loaded machine, so nothing escalates on its own."""
    s = Stack(tmp_path, wait=30, verify_wait=30)
    try:
        yield s
    finally:
        s.close()


def test_drill_from_text_to_after_action_summary(patient_stack: Stack):
    """DRILL ice eastside alerts the verifiers (marked DRILL), YES and CONFIRM alert layer 2, two YES cover it,
    RESOLVE ends it as a drill, and the coordinator gets the figures; nobody was asked to go anywhere."""
    stack = patient_stack
    stack.member(COORDINATOR, roles="coordinator")
    stack.member(VERIFIER, roles="responder", trees={"ice": 1}, zone="eastside")
    for number in RESPONDERS:
        stack.member(number, roles="responder", trees={"ice": 2})
    stack.member(RESPONDERS[2].replace("64", "66"), roles="responder", trees={"ice": 2}, language="es")
    stack.member(SUPPORTER, trees={"ice": 3})
    stack.start_worker()

    reply = stack.text(COORDINATOR, "DRILL ice eastside")
    with stack.svc.db.session() as session:
        drill = session.scalars(select(Incident)).one()
        code, incident_id = drill.code, drill.id
    assert drill.drill and f"Drill {code} started" in reply
    wait_until(lambda: stack.received(VERIFIER))
    assert stack.received(VERIFIER)[0].startswith(f"DRILL [{code}] ICE activity, eastside. Practice only")
    assert stack.text(VERIFIER, "YES").startswith("DRILL: ")
    assert stack.text(VERIFIER, f"CONFIRM {code}").startswith("DRILL: ")
    spanish = RESPONDERS[2].replace("64", "66")
    wait_until(lambda: all(stack.received(n) for n in [*RESPONDERS, spanish]))
    assert all(stack.received(n)[0].startswith(f"DRILL [{code}]") for n in RESPONDERS)
    assert stack.received(spanish)[0].startswith(f"SIMULACRO [{code}]")
    assert "DRILL: Got it: 1 of 2" in stack.text(RESPONDERS[0], "YES")
    assert "now covered" in stack.text(RESPONDERS[1], "1")
    assert stack.text(RESPONDERS[2], "NO").startswith("DRILL: ")
    stack.text(COORDINATOR, f"RESOLVE {code}")

    def summary() -> str | None:
        return next((t for t in stack.received(COORDINATOR) if "closed after" in t), None)

    text = wait_until(summary)
    assert text.startswith(f"[{code}] Drill closed after ")
    assert "L1 1/" in text and "L2 4/" in text and "First YES" in text
    # Every text any member got was marked as a drill; the supporters (layer 3) were never alerted.
    for number in [VERIFIER, *RESPONDERS, spanish]:
        assert stack.received(number) and all(t.startswith(("DRILL", "SIMULACRO")) for t in stack.received(number))
    assert stack.received(SUPPORTER) == []
    with stack.svc.db.session() as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None and incident.status == "drill"
        figures = afteraction.figures_of(session, stack.svc.cipher, incident, utcnow())
    rows = [(lay.number, lay.alerted, lay.answered, lay.on_the_way) for lay in figures.layers]
    assert rows == [(1, 1, 1, 1), (2, 4, 3, 2), (3, 0, 0, 0)]
    assert figures.drill and figures.yes.count == 3 and figures.send.first is not None
