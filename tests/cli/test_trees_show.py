"""trees show: each tree's keywords and layers, with how many active members are in each layer."""

from __future__ import annotations

from rapidresponse.members.models import MemberStatus
from tests.conftest import add_member


def test_show_lists_layers_with_active_member_counts(run, svc):
    """Only active members count; settings and flags of each layer are shown."""
    add_member(svc, "+12125550101", trees={"ice": 1, "eviction": 2})
    add_member(svc, "+12125550102", trees={"ice": 1})
    add_member(svc, "+12125550103", trees={"ice": 2})
    add_member(svc, "+12125550104", trees={"ice": 1}, status=MemberStatus.OPTED_OUT)
    add_member(svc, "+12125550105", trees={"ice": 2}, status=MemberStatus.PENDING)
    result = run("trees", "show")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0] == "ice (default): keywords ICE, MIGRA, REDADA"
    assert lines[1] == ("  1. verifiers: quorum 1, wait 180s, verifies, next layer waits for confirmation, "
                        "zone first; 2 active members")
    assert lines[2] == "  2. rapid responders: quorum 3, wait 300s, zone first; 1 active member"
    assert lines[3] == "  3. supporters: quorum 10, wait 600s; 0 active members"
    assert "copwatch: keywords COPWATCH, POLICIA" in lines
    assert "  2. supporters: quorum 30, wait 1800s; 1 active member" in lines


def test_members_in_a_layer_the_file_lacks_are_flagged(run, svc):
    """A membership left over from an edited trees file is reported, not silently dropped."""
    add_member(svc, "+12125550101", trees={"eviction": 5})
    result = run("trees", "show")
    assert result.code == 0
    assert "1 active member in eviction:5, which is not in the trees file" in result.err


def test_show_counts_paused_members_and_who_is_on_duty(run, svc):
    """A paused member is counted as paused, and the layer as below its quorum when it is."""
    from datetime import UTC, datetime, timedelta

    from rapidresponse.members.models import Member

    paused = add_member(svc, "+12125550101", trees={"ice": 1})
    with svc.db.session() as session:
        session.get(Member, paused).paused_until = datetime.now(UTC) + timedelta(days=1)
    result = run("trees", "show")
    assert result.code == 0, result.err
    assert ("  1. verifiers: quorum 1, wait 180s, verifies, next layer waits for confirmation, "
            "zone first; 1 active member, 1 paused (below quorum)") in result.out.splitlines()
