"""Layer planning by channel: a text, a call or both per member, one dedupe key per incident, member
and channel, and a landline on voice still alerted."""

from __future__ import annotations

from sqlalchemy import select

from rapidresponse.members.models import Member
from rapidresponse.messaging.models import OutboundMessage, Purpose
from tests.conftest import add_member
from tests.jobs.test_escalation_service import open_by_text, run


def set_member(svc, member_id: int, **values: object) -> None:
    with svc.db.session() as session:
        found = session.get(Member, member_id)
        for name, value in values.items():
            setattr(found, name, value)


def planned(svc, incident_id: int) -> list[tuple[int | None, str, str]]:
    with svc.db.session() as session:
        rows = session.execute(select(OutboundMessage.member_id, OutboundMessage.channel, OutboundMessage.dedupe_key)
                               .where(OutboundMessage.incident_id == incident_id,
                                      OutboundMessage.purpose == Purpose.ALERT.value)
                               .order_by(OutboundMessage.id)).all()
    return [tuple(r) for r in rows]


def test_each_member_is_alerted_on_their_channel(client, svc):
    """sms gets a text, voice a call, both a text and a call; calls speak the alert in the member's language."""
    texter = add_member(svc, "+12125550181", roles="responder", trees={"ice": 2})
    caller = add_member(svc, "+12125550182", roles="responder", trees={"ice": 2}, language="es")
    both = add_member(svc, "+12125550183", roles="responder", trees={"ice": 2})
    set_member(svc, caller, channel="voice")
    set_member(svc, both, channel="both")
    incident = open_by_text(client, "ICE 5th and Main")
    after = run(svc, incident.id)
    i = incident.id
    assert planned(svc, i) == [
        (texter, "sms", f"alert:{i}:{texter}"),
        (caller, "voice", f"alert:{i}:{caller}:voice"),
        (both, "sms", f"alert:{i}:{both}"), (both, "voice", f"alert:{i}:{both}:voice"),
    ]
    assert len(after.send_ids) == 4
    with svc.db.session() as session:
        script = session.scalars(select(OutboundMessage.body_token).where(
            OutboundMessage.member_id == caller)).one()
    spoken = svc.cipher.decrypt(script)
    assert spoken.startswith("Alerta de Respuesta Rápida ") and "Oprime 1 si vas en camino" in spoken
    code = incident.code
    assert ", ".join(code) in spoken and f"[{code}]" not in spoken


def test_landline_on_voice_is_called_not_texted(client, svc):
    """A number marked as a landline (30006) is left out of texts but, on voice or both, is called."""
    landline = add_member(svc, "+12125550184", roles="responder", trees={"ice": 2})
    set_member(svc, landline, channel="both", undeliverable_code=30006)
    dead = add_member(svc, "+12125550185", roles="responder", trees={"ice": 2})
    set_member(svc, dead, channel="voice", undeliverable_code=21211)
    incident = open_by_text(client, "ICE 5th and Main")
    run(svc, incident.id)
    assert planned(svc, incident.id) == [(landline, "voice", f"alert:{incident.id}:{landline}:voice")]


def test_planning_twice_records_each_intent_once(client, svc):
    """A re-run of the layer's evaluation adds no second text or call."""
    both = add_member(svc, "+12125550186", roles="responder", trees={"ice": 2})
    set_member(svc, both, channel="both")
    incident = open_by_text(client, "ICE 5th and Main")
    run(svc, incident.id)
    run(svc, incident.id)
    assert len(planned(svc, incident.id)) == 2
