"""members list shows masked numbers and no names; members remove deletes a member outright."""

from __future__ import annotations

from sqlalchemy import select

from rapidresponse.db import utcnow
from rapidresponse.members.models import MemberStatus, MemberTag
from rapidresponse.messaging import outbox
from rapidresponse.messaging.models import OutboundMessage, Purpose
from tests.conftest import add_member, member


def test_list_masks_numbers_and_shows_no_names(run, svc, csv_file):
    """One line per member: last four digits, status, language, channel, zone, roles, trees; never a full
    number."""
    csv = ("phone,name,language,zone,roles,trees,channel\n"
           "2125550101,Ana Example,es,east,responder,ice:1;eviction:2,both\n")
    assert run("members", "import", str(csv_file(csv))).code == 0
    add_member(svc, "+12125550102", status=MemberStatus.OPTED_OUT)
    result = run("members", "list")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].split() == ["number", "status", "language", "channel", "zone", "roles", "trees"]
    assert lines[1].split() == ["…0101", "active", "es", "both", "east", "member;responder", "eviction:2;ice:1"]
    assert lines[2].split() == ["…0102", "opted_out", "en", "sms", "-", "member", "-"]
    assert lines[-1] == "2 members"
    assert "2125550101" not in result.out and "Ana" not in result.out


def test_list_filters_by_tree_and_status(run, svc):
    """--tree and --status narrow the list; an unknown tree is a clear error."""
    add_member(svc, "+12125550101", trees={"ice": 1})
    add_member(svc, "+12125550102", trees={"copwatch": 2})
    add_member(svc, "+12125550103", trees={"ice": 2}, status=MemberStatus.PENDING)
    ice = run("members", "list", "--tree", "ice").out
    assert "…0101" in ice and "…0103" in ice and "…0102" not in ice
    active_ice = run("members", "list", "--tree", "ice", "--status", "active").out
    assert "…0101" in active_ice and "…0103" not in active_ice
    bad = run("members", "list", "--tree", "nope")
    assert bad.code == 1 and "no tree 'nope'" in bad.err


def test_remove_deletes_member_memberships_and_unsent_texts(run, svc):
    """remove hard-deletes the member and their layers, and cancels texts not yet sent to them."""
    member_id = add_member(svc, "+12125550101", trees={"ice": 1, "eviction": 2})
    add_member(svc, "+12125550102", trees={"ice": 1})
    text = outbox.Text(to="+12125550101", body="hi", purpose=Purpose.WELCOME, dedupe_key="welcome:x",
                       member_id=member_id)
    with svc.db.session() as session:
        outbox.record(session, svc.cipher, [text], utcnow())
    result = run("members", "remove", "(212) 555-0101")
    assert result.code == 0, result.err
    assert result.out.strip() == "removed the member …0101 and their 2 tree memberships"
    assert member(svc, "+12125550101") is None and member(svc, "+12125550102") is not None
    with svc.db.session() as session:
        assert set(session.scalars(select(MemberTag.member_id)).all()) == {member_id + 1}
        text = session.scalars(select(OutboundMessage)).one()
        assert (text.status, text.member_id) == ("cancelled", None)


def test_remove_unknown_number_exits_1(run, svc):
    """A number with no member, or not a number at all, is one line and exit 1."""
    missing = run("members", "remove", "+12125550199")
    assert missing.code == 1
    assert missing.err.strip() == "rapidresponse: no member with the number …0199"
    garbage = run("members", "remove", "call me")
    assert garbage.code == 1 and garbage.err.startswith("rapidresponse: PHONE:")
