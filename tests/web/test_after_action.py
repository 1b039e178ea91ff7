"""The after-action page and the text coordinators get when an incident closes; drills compared with the one before."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from rapidresponse.afteraction.figures import compare, compute
from rapidresponse.afteraction.service import summary_text
from rapidresponse.incidents.models import Incident
from rapidresponse.messaging.models import DeliveryStatus, OutboundMessage
from tests.conftest import Phone, add_member
from tests.unit.test_afteraction_figures import drill_facts
from tests.web.test_console_auth import add_coordinator, sign_in
from tests.web.test_drills import COORDINATOR, RESPONDER, VERIFIER, start_fan_out

NEVER = "+12125550177"


def run_drill(client, svc, *, answer: bool = True) -> Incident:
    """A drill on ice by text; the verifier says YES (or nothing); a coordinator ends it."""
    coordinator = Phone(client, COORDINATOR)
    coordinator.reply_to("DRILL ice eastside")
    with svc.db.session() as session:
        incident = session.scalars(select(Incident).where(Incident.open_code.is_not(None))).one()
    start_fan_out(svc, incident.id)
    with svc.db.session() as session:  # one alert never got through
        session.execute(update(OutboundMessage).where(OutboundMessage.to_index == svc.cipher.blind_index(NEVER))
                        .values(status=DeliveryStatus.UNDELIVERED.value))
    if answer:
        Phone(client, VERIFIER).reply_to("YES")
    coordinator.reply_to(f"RESOLVE {incident.code}")
    with svc.db.session() as session:
        found = session.get(Incident, incident.id)
        session.expunge(found)
        return found


def members(svc) -> None:
    add_member(svc, VERIFIER, roles="responder", trees={"ice": 1})
    add_member(svc, NEVER, roles="responder", trees={"ice": 1})
    add_member(svc, RESPONDER, roles="responder", trees={"ice": 2})
    add_member(svc, COORDINATOR, roles="coordinator")


def summaries(svc, incident_id: int) -> list[str]:
    with svc.db.session() as session:
        return [svc.cipher.decrypt(m.body_token) for m in session.scalars(select(OutboundMessage).where(
            OutboundMessage.incident_id == incident_id, OutboundMessage.dedupe_key.like("afteraction:%")))]


def test_closing_texts_the_coordinators_a_summary(client, svc):
    """When a drill ends, each coordinator gets its figures: per layer, first YES, never reached."""
    members(svc)
    drill = run_drill(client, svc)
    [text] = summaries(svc, drill.id)
    assert text.startswith(f"[{drill.code}] Drill closed after ")
    assert "Per layer alerted/delivered/answered/on the way: L1 2/1/1/1." in text
    assert "First YES " in text and "1 never reached." in text and "last drill" not in text


def test_a_second_drill_is_compared_with_the_first(client, svc):
    """The next drill of the same tree names the last drill's first YES in its summary and on its page."""
    members(svc)
    run_drill(client, svc)
    second = run_drill(client, svc)
    [text] = summaries(svc, second.id)
    assert "last drill " in text
    add_coordinator(svc)
    sign_in(client)
    page = client.get(f"/incidents/{second.id}/after-action").data.decode()
    assert "Compared with the drill before it on this tree" in page and "last drill" in page


def test_after_action_page_shows_figures_chart_and_masked_never_reached(client, svc):
    """The page: tiles, an inline SVG chart (no script), the per-layer table, and who was never reached, masked."""
    members(svc)
    drill = run_drill(client, svc)
    add_coordinator(svc)
    sign_in(client)
    response = client.get(f"/incidents/{drill.id}/after-action")
    assert response.status_code == 200
    page = response.data.decode()
    assert "<svg" in page and "<polyline" in page and "<script" not in page.split("<svg", 1)[1].split("</svg>")[0]
    assert "…" + NEVER[-4:] in page and NEVER not in page and NEVER[2:] not in page
    assert "1 · verifiers" in page and "first YES" in page
    assert client.get(f"/incidents/{drill.id}").data.decode().count("After-action figures") == 1
    assert client.get("/incidents/999999/after-action").status_code == 404


def test_summary_text_in_both_languages():
    """The summary reads the same figures in each coordinator's language, compared with the last drill."""
    figures = compute(drill_facts(), now=drill_facts().opened_at + timedelta(hours=2))
    earlier = compute(drill_facts(), now=drill_facts().opened_at + timedelta(hours=2))
    text = summary_text("K7", figures, compare(figures, earlier), "en")
    assert text == ("[K7] Drill closed after 20 min. Per layer alerted/delivered/answered/on the way: "
                    "L1 2/2/1/1, L2 4/3/3/3. First YES 4 min, last drill 4 min. Quorum 9 min, last drill 9 min. "
                    "1 never reached. Escalated: layer 1. After-action page in the console.")
    spanish = summary_text("K7", figures, None, "es")
    assert spanish.startswith("[K7] Simulacro cerrado tras 20 min. Por capa avisados/recibidos/respondieron/en camino:")
    assert "Primer SI 4 min." in spanish and "Escalaron: capa 1." in spanish
