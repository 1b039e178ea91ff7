"""Who answered and who wrote: stored as per-incident pseudonyms, resolved only for a coordinator."""

from __future__ import annotations

from sqlalchemy import select, text

from rapidresponse.console.threads import incident_view
from rapidresponse.incidents.models import Acknowledgement, Participant, ThreadEvent
from rapidresponse.incidents.service import responders_who_said_yes
from tests.conftest import Phone, add_member
from tests.jobs.test_escalation_service import _mark_sent, open_by_text, run

VERIFIER, SECOND = "+12125550141", "+12125550142"


def test_acknowledgements_name_a_pseudonym_and_still_count(client, svc):
    """Two YES answers: two participants numbered in order, no member id or number in either table,
    the count and who-said-yes still known with the key, and the thread readable for a coordinator."""
    first = add_member(svc, VERIFIER, roles="responder", trees={"ice": 1})
    second = add_member(svc, SECOND, roles="responder", trees={"ice": 1})
    incident = open_by_text(client, "ICE 5th and Main")
    run(svc, incident.id)
    _mark_sent(svc)
    Phone(client, VERIFIER).reply_to("YES")
    Phone(client, SECOND).reply_to("YES")
    Phone(client, VERIFIER).reply_to("two vans at the corner")
    with svc.db.session() as session:
        named = session.scalars(select(Participant).order_by(Participant.number)).all()
        assert [p.number for p in named] == [1, 2]
        columns = set(session.execute(text("SELECT * FROM acknowledgements")).keys())
        assert "member_id" not in columns
        assert session.scalars(select(Acknowledgement.answer)).all() == ["yes", "yes"]
        assert {r.id for r in responders_who_said_yes(session, svc.cipher, incident.id)} == {first, second}
        lines = session.scalars(select(ThreadEvent).where(ThreadEvent.participant_id.is_not(None))).all()
        assert lines and all(VERIFIER[-4:] not in line.actor and SECOND[-4:] not in line.actor for line in lines)
        view = incident_view(session, svc.cipher, incident.id)
    actors = [(e.kind, e.actor) for e in view.events if e.kind in ("acknowledged", "reply")]
    assert actors == [("acknowledged", "responder 1 (…0141)"), ("acknowledged", "responder 2 (…0142)"),
                      ("reply", "responder 1 (…0141)")]
