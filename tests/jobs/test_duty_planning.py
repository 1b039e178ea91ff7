"""Pause, duty hours, rotation and waves where planning meets the database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from rapidresponse.duty import service as duty
from rapidresponse.escalation import service as escalation
from rapidresponse.incidents.models import IncidentLayer, ThreadEvent
from rapidresponse.members.models import Member
from rapidresponse.messaging.models import OutboundMessage, Purpose
from rapidresponse.trees.model import parse_trees
from tests.conftest import Phone, add_member, row
from tests.jobs.test_escalation_service import alerts, open_by_text, run

# 03:00 in Chicago, 09:00 there; the layers are on duty 05:00-14:00 Chicago time.
NIGHT = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
DAY = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)


def use_trees(svc, *layers: dict) -> None:
    svc.trees = parse_trees({"time_zone": "America/Chicago", "default_tree": "ice",
                             "trees": {"ice": {"keywords": ["ICE"], "layers": list(layers)}}})


def responders(svc, count: int, first: int = 170, **kwargs) -> list[int]:
    return [add_member(svc, f"+1212555{first + n:04d}", roles="responder", trees={"ice": 1}, **kwargs)
            for n in range(count)]


def set_member(svc, member_id: int, **values) -> None:
    with svc.db.session() as session:
        member = session.get(Member, member_id)
        for name, value in values.items():
            setattr(member, name, value)


def alerted(svc, incident_id: int) -> list[int]:
    return [member for member, _ in alerts(svc, incident_id)]


def test_a_paused_member_is_skipped_in_a_streamed_layer(client, svc):
    """A plain layer (no waves, no duty window) is planned a chunk at a time: the paused are left out."""
    use_trees(svc, {"name": "responders", "quorum": 2})
    paused, other = responders(svc, 2)
    assert "Paused" in Phone(client, "+12125550170").reply_to("PAUSE 3d")
    incident = open_by_text(client, "ICE 5th and Main")
    run(svc, incident.id)
    assert alerted(svc, incident.id) == [other]
    assert row(svc, Member, paused).paused_until is not None


def test_a_paused_member_is_skipped_and_counted_as_paused(client, svc):
    """In a layer planned in rotation order, the thread also says how many were paused."""
    use_trees(svc, {"name": "responders", "quorum": 2, "wave": 5})
    paused, other = responders(svc, 2)
    assert "Paused" in Phone(client, "+12125550170").reply_to("PAUSE 3d")
    incident = open_by_text(client, "ICE 5th and Main")
    run(svc, incident.id)
    assert alerted(svc, incident.id) == [other]
    with svc.db.session() as session:
        detail = session.scalars(select(ThreadEvent.detail).where(
            ThreadEvent.incident_id == incident.id, ThreadEvent.kind == "layer_alerted")).one()
    assert detail["paused"] == 1
    assert row(svc, Member, paused).paused_until is not None


def test_off_duty_members_fill_the_layer_only_up_to_its_quorum(client, svc):
    """At 03:00 Chicago time nobody is on duty 05:00-14:00: the two alerted least recently (of three)
    are woken for a quorum of 2; at 09:00 all three are on duty and all are alerted."""
    use_trees(svc, {"name": "responders", "quorum": 2, "on_duty": "05:00-14:00"})
    a, b, c = responders(svc, 3)
    set_member(svc, a, last_alerted_at=NIGHT - timedelta(hours=1))
    incident = open_by_text(client, "ICE 5th and Main")
    run(svc, incident.id, NIGHT)
    assert alerted(svc, incident.id) == [b, c]
    later = open_by_text(client, "ICE on Elm", phone="+12125550169")
    run(svc, later.id, DAY)
    assert sorted(alerted(svc, later.id)) == [a, b, c]


def test_a_members_own_hours_put_them_on_duty_at_night(client, svc):
    """HOURS 22-6 makes a member on duty at 03:00 though the layer is on duty by day."""
    use_trees(svc, {"name": "responders", "quorum": 1, "on_duty": "05:00-14:00"})
    day_person, night_person = responders(svc, 2)
    assert "22:00-06:00" in Phone(client, "+12125550171").reply_to("HOURS 22-6")
    assert row(svc, Member, night_person).duty_start == 22 * 60
    incident = open_by_text(client, "ICE 5th and Main")
    run(svc, incident.id, NIGHT)
    assert alerted(svc, incident.id) == [night_person]
    assert day_person not in alerted(svc, incident.id)


def test_rotation_alerts_whoever_was_alerted_least_recently_first(client, svc):
    """Wave of 2 out of 4: the two never alerted go first; the next incident starts with the other two."""
    use_trees(svc, {"name": "responders", "quorum": 1, "wave": 2, "wait_seconds": 300})
    a, b, c, d = responders(svc, 4)
    set_member(svc, a, last_alerted_at=DAY - timedelta(days=2))
    set_member(svc, b, last_alerted_at=DAY - timedelta(days=1))
    first = open_by_text(client, "ICE 5th and Main")
    run(svc, first.id, DAY)
    assert alerted(svc, first.id) == [c, d]
    second = open_by_text(client, "ICE on Elm", phone="+12125550169")
    run(svc, second.id, DAY + timedelta(minutes=10))
    assert alerted(svc, second.id) == [a, b]
    with svc.db.session() as session:
        load = duty.loads(session, [a, b, c, d], DAY + timedelta(minutes=10))
    assert {m: load[m].alerts for m in (a, b, c, d)} == {a: 1, b: 1, c: 1, d: 1}


def test_the_next_wave_goes_after_the_waves_wait_once(client, svc):
    """No quorum after the wave's wait: the next two go, once, however often the timer fires;
    after the layer's wait the next layer is alerted as before."""
    use_trees(svc, {"name": "responders", "quorum": 1, "wave": 2, "wave_wait_seconds": 60, "wait_seconds": 150},
              {"name": "supporters", "quorum": 5})
    first_wave = responders(svc, 2)
    second_wave = responders(svc, 2, first=180)
    supporter = add_member(svc, "+12125550190", trees={"ice": 2})
    incident = open_by_text(client, "ICE 5th and Main")
    run(svc, incident.id, DAY)
    assert alerted(svc, incident.id) == first_wave
    run(svc, incident.id, DAY + timedelta(seconds=59))
    assert alerted(svc, incident.id) == first_wave
    run(svc, incident.id, DAY + timedelta(seconds=60))
    run(svc, incident.id, DAY + timedelta(seconds=61))
    assert alerted(svc, incident.id) == first_wave + second_wave
    with svc.db.session() as session:
        layer = session.scalars(select(IncidentLayer).where(IncidentLayer.incident_id == incident.id,
                                                            IncidentLayer.number == 1)).one()
        assert (layer.waves_sent, layer.recipients, layer.next_wave_at) == (2, 4, None)
    run(svc, incident.id, DAY + timedelta(seconds=150))
    assert alerted(svc, incident.id)[-1] == supporter


def test_no_next_wave_once_the_quorum_is_on_the_way(client, svc):
    """The first wave's YES reaches the quorum: nobody else in the layer is woken."""
    use_trees(svc, {"name": "responders", "quorum": 1, "wave": 1, "wave_wait_seconds": 60, "wait_seconds": 300})
    first, _ = responders(svc, 2)
    incident = open_by_text(client, "ICE 5th and Main")
    run(svc, incident.id)
    with svc.db.session() as session:
        session.execute(OutboundMessage.__table__.update().values(status="sent"))
    Phone(client, "+12125550170").reply_to("YES")
    run(svc, incident.id, datetime.now(UTC) + timedelta(seconds=61))
    assert alerted(svc, incident.id) == [first]


def test_answers_count_as_load(client, svc):
    """An alert, a YES: one alert received, one answered, one on the way; counts only."""
    use_trees(svc, {"name": "responders", "quorum": 1})
    (member_id,) = responders(svc, 1)
    incident = open_by_text(client, "ICE 5th and Main")
    run(svc, incident.id)
    with svc.db.session() as session:
        session.execute(OutboundMessage.__table__.update().values(status="sent"))
    Phone(client, "+12125550170").reply_to("YES")
    with svc.db.session() as session:
        assert duty.loads(session, [member_id], datetime.now(UTC))[member_id] == duty.Load(1, 1, 1)


def test_a_pause_that_ran_out_is_lifted_and_the_member_told_once(svc):
    """The sweep's end_pauses lifts a pause that is over and records one text saying so."""
    member_id = add_member(svc, "+12125550172", language="es", roles="responder", trees={"ice": 1})
    set_member(svc, member_id, paused_until=DAY)
    with svc.db.session() as session:
        assert duty.end_pauses(session, svc.cipher, DAY - timedelta(seconds=1)) == []
    with svc.db.session() as session:
        ids = duty.end_pauses(session, svc.cipher, DAY)
    with svc.db.session() as session:
        assert duty.end_pauses(session, svc.cipher, DAY + timedelta(minutes=1)) == []
        texts = session.scalars(select(OutboundMessage).where(OutboundMessage.purpose == Purpose.DUTY.value)).all()
        assert [t.id for t in texts] == ids and len(ids) == 1
        assert svc.cipher.decrypt(texts[0].body_token).startswith("Fin de tu pausa")
    assert row(svc, Member, member_id).paused_until is None


def test_stop_forgets_pause_hours_and_load(client, svc):
    """STOP wipes the member's pause, hours, last alert and load counts with the rest."""
    (member_id,) = responders(svc, 1)
    set_member(svc, member_id, paused_until=DAY, duty_start=60, duty_end=120, last_alerted_at=DAY)
    with svc.db.session() as session:
        duty.note_alerted(session, [member_id], DAY)
    Phone(client, "+12125550170").reply_to("STOP")
    gone = row(svc, Member, member_id)
    assert (gone.paused_until, gone.duty_start, gone.duty_end, gone.last_alerted_at) == (None, None, None, None)
    with svc.db.session() as session:
        assert duty.loads(session, [member_id], DAY) == {}


def test_shred_takes_the_load_counts_and_last_alerts_with_the_incidents(svc):
    """`db shred` leaves no trace of who was alerted or answered: load rows and last alerts go too."""
    from rapidresponse.privacy.shred import shred

    (member_id,) = responders(svc, 1)
    with svc.db.session() as session:
        duty.note_alerted(session, [member_id], DAY)
        duty.note_answer(session, member_id, DAY, first=True, yes=True)
    with svc.db.session() as session:
        shred(session, members=False, now=DAY)
    assert row(svc, Member, member_id).last_alerted_at is None
    with svc.db.session() as session:
        assert duty.loads(session, [member_id], DAY) == {}


def test_the_sweep_finds_a_due_wave_and_only_within_the_layers_wait(client, svc):
    """A lost timer does not lose a wave: due_incidents lists the incident once the wave is due,
    and stops listing it when the layer's own wait is over (the next layer's turn, found as before)."""
    from rapidresponse.escalation.service import due_incidents

    use_trees(svc, {"name": "responders", "quorum": 1, "wave": 1, "wave_wait_seconds": 60, "wait_seconds": 150})
    responders(svc, 3)
    incident = open_by_text(client, "ICE 5th and Main")
    run(svc, incident.id, DAY)
    with svc.db.session() as session:
        assert incident.id not in due_incidents(session, DAY + timedelta(seconds=59))
        assert incident.id in due_incidents(session, DAY + timedelta(seconds=60))
        assert incident.id not in due_incidents(session, DAY + timedelta(seconds=151))


def test_a_layer_planned_whole_is_recorded_a_chunk_at_a_time_in_rotation_order(client, svc, monkeypatch):
    """Five on duty, chunks of two: everyone is alerted once, least recently alerted first."""
    monkeypatch.setattr(escalation, "PLAN_CHUNK", 2)
    use_trees(svc, {"name": "responders", "quorum": 5, "on_duty": "05:00-14:00"})
    members = responders(svc, 5)
    for n, member in enumerate(members):  # the last was alerted longest ago: it goes first
        set_member(svc, member, last_alerted_at=DAY - timedelta(hours=1 + n))
    incident = open_by_text(client, "ICE 5th and Main")
    after = run(svc, incident.id, DAY)
    assert alerted(svc, incident.id) == members[::-1]
    assert len(after.send_ids) == 5
