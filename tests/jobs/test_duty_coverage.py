"""A layer short of people on duty: counted, stored for the console, and the coordinators told once a day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from rapidresponse.duty import coverage
from rapidresponse.duty import service as duty_service
from rapidresponse.duty.windows import parse_window
from rapidresponse.members.models import Member
from rapidresponse.messaging.models import OutboundMessage, Purpose
from rapidresponse.trees.model import parse_trees
from tests.conftest import add_member

NOW = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)  # 09:00 in Chicago


def trees():
    return parse_trees({"time_zone": "America/Chicago", "trees": {"ice": {"keywords": ["ICE"], "layers": [
        {"name": "verifiers", "verifies": True, "quorum": 2}, {"name": "rapid responders", "quorum": 1}]}}})


def set_paused(svc, member_id: int, until: datetime | None) -> None:
    with svc.db.session() as session:
        session.get(Member, member_id).paused_until = until


def duty_texts(svc) -> list[str]:
    with svc.db.session() as session:
        return [svc.cipher.decrypt(t.body_token) for t in session.scalars(
            select(OutboundMessage).where(OutboundMessage.purpose == Purpose.DUTY.value).order_by(OutboundMessage.id))]


def test_a_layer_below_quorum_tells_the_coordinators_once_a_day(svc):
    """Two verifiers, one paused: "ice verifiers: 1 on duty, quorum 2" to each coordinator, in their
    language. While it stays short nothing more is sent (the console shows it); once it recovered and
    drops again, it is said again, but not within a day of the last text."""
    svc.trees = trees()
    add_member(svc, "+12125550201", roles="responder", trees={"ice": 1})
    paused = add_member(svc, "+12125550202", roles="responder", trees={"ice": 1})
    add_member(svc, "+12125550203", roles="responder", trees={"ice": 2})
    add_member(svc, "+12125550204", roles="coordinator")
    add_member(svc, "+12125550205", roles="coordinator", language="es")
    set_paused(svc, paused, NOW + timedelta(days=3))
    with svc.db.session() as session:
        assert len(coverage.check(session, svc.cipher, svc.trees, NOW)) == 2
    assert duty_texts(svc) == ["ice verifiers: 1 on duty, quorum 2. Please check the console.",
                               "ice verifiers: 1 de turno, quorum 2. Revisa la consola."]
    with svc.db.session() as session:
        assert coverage.check(session, svc.cipher, svc.trees, NOW + timedelta(hours=23)) == []
        assert [(row.tree, row.layer, row.on_duty, row.paused) for row in coverage.short_layers(session)] == [
            ("ice", 1, 1, 1)]
    with svc.db.session() as session:
        assert coverage.check(session, svc.cipher, svc.trees, NOW + timedelta(days=2)) == []  # still short
    set_paused(svc, paused, None)
    with svc.db.session() as session:
        assert coverage.check(session, svc.cipher, svc.trees, NOW + timedelta(days=2, hours=1)) == []
        assert coverage.short_layers(session) == []
    set_paused(svc, paused, NOW + timedelta(days=9))
    with svc.db.session() as session:
        assert len(coverage.check(session, svc.cipher, svc.trees, NOW + timedelta(days=2, hours=2))) == 2


def test_a_drop_within_a_day_of_the_last_text_is_not_texted(svc):
    svc.trees = trees()
    add_member(svc, "+12125550201", roles="responder", trees={"ice": 1})
    flapping = add_member(svc, "+12125550202", roles="responder", trees={"ice": 1})
    add_member(svc, "+12125550203", roles="responder", trees={"ice": 2})
    add_member(svc, "+12125550204", roles="coordinator")
    set_paused(svc, flapping, NOW + timedelta(days=1))
    with svc.db.session() as session:
        assert len(coverage.check(session, svc.cipher, svc.trees, NOW)) == 1
    set_paused(svc, flapping, None)
    with svc.db.session() as session:
        coverage.check(session, svc.cipher, svc.trees, NOW + timedelta(hours=1))
    set_paused(svc, flapping, NOW + timedelta(days=1))
    with svc.db.session() as session:
        assert coverage.check(session, svc.cipher, svc.trees, NOW + timedelta(hours=2)) == []
        assert len(coverage.short_layers(session)) == 1


def test_a_layer_outside_its_duty_window_is_off_not_short(svc):
    """At 15:00 a 05:00-14:00 layer with nobody on duty by their own hours is not below quorum."""
    svc.trees = parse_trees({"time_zone": "America/Chicago", "trees": {"ice": {"keywords": ["ICE"], "layers": [
        {"name": "verifiers", "quorum": 1, "on_duty": "05:00-14:00"}]}}})
    add_member(svc, "+12125550201", roles="responder", trees={"ice": 1})
    add_member(svc, "+12125550204", roles="coordinator")
    afternoon = datetime(2026, 12, 2, 21, 0, tzinfo=UTC)  # 15:00 in Chicago
    with svc.db.session() as session:
        assert coverage.check(session, svc.cipher, svc.trees, afternoon) == []
        assert coverage.short_layers(session) == []
        count = coverage.count_layer(session, svc.cipher, svc.trees.get("ice"), svc.trees.get("ice").layers[0],
                                     afternoon)
    assert (count.on_duty, count.in_window, count.short) == (0, False, False)


def test_a_layer_empty_from_the_start_is_shown_but_not_texted(svc):
    """A tree nobody was put in yet never "dropped": the console lists it, no text goes."""
    svc.trees = trees()
    add_member(svc, "+12125550204", roles="coordinator")
    with svc.db.session() as session:
        assert coverage.check(session, svc.cipher, svc.trees, NOW) == []
        assert [(row.tree, row.layer) for row in coverage.short_layers(session)] == [("ice", 1), ("ice", 2)]


def test_a_layer_with_enough_on_duty_tells_nobody(svc):
    svc.trees = trees()
    add_member(svc, "+12125550201", roles="responder", trees={"ice": 1})
    add_member(svc, "+12125550202", roles="responder", trees={"ice": 1})
    add_member(svc, "+12125550203", roles="responder", trees={"ice": 2})
    add_member(svc, "+12125550204", roles="coordinator")
    with svc.db.session() as session:
        assert coverage.check(session, svc.cipher, svc.trees, NOW) == []
        assert coverage.short_layers(session) == []
    assert duty_texts(svc) == []


def test_own_hours_and_ended_pauses_count_as_planning_counts_them(svc):
    """At 09:00 in Chicago: a member with HOURS 22-6 is off duty, one with 8-17 on duty, one whose
    pause ended is back on duty, one paused is paused; the console shows 4 members, 1 paused, 2 on duty."""
    svc.trees = trees()
    night = add_member(svc, "+12125550201", roles="responder", trees={"ice": 1})
    day = add_member(svc, "+12125550202", roles="responder", trees={"ice": 1})
    back = add_member(svc, "+12125550203", roles="responder", trees={"ice": 1})
    paused = add_member(svc, "+12125550204", roles="responder", trees={"ice": 1})
    with svc.db.session() as session:
        duty_service.set_hours(session.get(Member, night), parse_window("22-6"))
        duty_service.set_hours(session.get(Member, day), parse_window("8-17"))
    set_paused(svc, back, NOW - timedelta(minutes=1))
    set_paused(svc, paused, NOW + timedelta(days=1))
    with svc.db.session() as session:
        count = coverage.count_layer(session, svc.cipher, svc.trees.get("ice"), svc.trees.get("ice").layers[0], NOW)
    assert (count.members, count.paused, count.on_duty, count.short) == (4, 1, 2, False)
