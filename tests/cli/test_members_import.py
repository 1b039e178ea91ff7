"""members import: every row checked first, all or nothing, numbers and names encrypted, welcome texts."""

from __future__ import annotations

from sqlalchemy import select

from rapidresponse.i18n import render
from rapidresponse.jobs import queues
from rapidresponse.members import registry
from rapidresponse.members.models import Member, MemberStatus
from rapidresponse.messaging.models import OutboundMessage
from tests.cli.conftest import sqlite_bytes
from tests.conftest import add_member, member

GOOD = """phone,name,language,zone,roles,trees
(212) 555-0101,Ana Example,es,Eastside,responder;coordinator,ice:1;eviction:2
+1 212 555 0102,,,,,
212.555.0103,Bo Example,en,westside,responder,copwatch:3
"""


def count_members(svc) -> int:
    with svc.db.session() as session:
        return len(session.scalars(select(Member)).all())


def test_good_file_imports_active_members_with_memberships(run, svc, csv_file):
    """Each row becomes an active, consented member with its language, zone, roles and layers."""
    result = run("members", "import", str(csv_file(GOOD)))
    assert result.code == 0, result.err
    assert result.out.strip() == "imported 3 members (0 updated)"
    ana = member(svc, "+12125550101")
    assert (ana.status, ana.language, ana.zone) == (MemberStatus.ACTIVE.value, "es", "eastside")
    assert ana.consented_at is not None
    places = registry.places(svc.cipher, ana)
    assert places.roles == {"member", "responder", "coordinator"}
    assert places.trees == {"ice": 1, "eviction": 2}
    assert svc.cipher.decrypt(ana.name_token) == "Ana Example"
    plain = member(svc, "+12125550102")
    assert (plain.language, plain.zone, registry.places(svc.cipher, plain), plain.name_token) == (
        "en", None, registry.Places(frozenset({"member"}), {}), None)


def test_numbers_and_names_are_encrypted_at_rest(run, svc, csv_file, database_url):
    """Neither a raw number nor a name appears anywhere in the database's bytes."""
    if not database_url.startswith("sqlite"):
        return
    assert run("members", "import", str(csv_file(GOOD))).code == 0
    stored = sqlite_bytes(database_url)
    for secret in (b"+12125550101", b"2125550101", b"555-0101", b"Ana Example", b"Bo Example"):
        assert secret not in stored


def test_one_bad_row_imports_nothing_and_names_the_row(run, svc, csv_file):
    """One rejected row stops the whole import; the report gives the row and why, never the number."""
    result = run("members", "import", str(csv_file(GOOD + "(555) 555-0199,,,,,\n")))
    assert result.code == 1
    assert result.err.splitlines()[0] == "row 5: phone: not a valid phone number for its country"
    assert "nothing imported: 1 row rejected" in result.err
    assert "555" not in result.err and "0199" not in result.err and result.out == ""
    assert count_members(svc) == 0


def test_every_problem_in_every_row_is_reported(run, svc, csv_file):
    """All rows are checked before anything is written, so one run lists every fix the file needs."""
    text = GOOD + "(555) 555-0199,,,,,\n" + "+1 212 555 0104,,fr,,,ice:9\n"
    result = run("members", "import", str(csv_file(text)))
    assert result.code == 1
    assert result.err.splitlines()[:3] == [
        "row 5: phone: not a valid phone number for its country",
        "row 6: language: must be one of en, es",
        "row 6: trees: ice has layers 1 to 3, not 9",
    ]
    assert "nothing imported: 2 rows rejected" in result.err
    assert count_members(svc) == 0


def test_duplicate_number_in_the_file_is_rejected(run, svc, csv_file):
    """The same number twice, however it is written, is a reject pointing at the first row."""
    result = run("members", "import", str(csv_file("phone\n2125550101\n+12125550101\n")))
    assert result.code == 1
    assert "row 3: phone: same number as row 2" in result.err
    assert count_members(svc) == 0


def test_unknown_role_zone_and_tree_are_rejected(run, svc, csv_file):
    """Roles, zones and trees are checked against what exists."""
    text = "phone,zone,roles,trees\n2125550101,!!,boss,\n2125550102,,,nope:1\n2125550103,,,ice\n"
    result = run("members", "import", str(csv_file(text)))
    assert result.code == 1
    assert "row 2: zone:" in result.err and "row 2: roles: unknown role 'boss'" in result.err
    assert "row 3: trees: no tree 'nope'" in result.err
    assert "row 4: trees: 'ice' is not tree:layer" in result.err


def test_existing_member_is_updated_in_the_columns_the_file_has(run, svc, csv_file):
    """A known number is updated (and a pending one made active); columns the file lacks are left alone."""
    add_member(svc, "+12125550101", language="en", zone="north", trees={"ice": 3, "copwatch": 1})
    add_member(svc, "+12125550102", status=MemberStatus.PENDING, zone="south")
    text = "phone,language,trees\n2125550101,es,ice:1;eviction:1\n2125550102,,\n2125550103,,\n"
    result = run("members", "import", str(csv_file(text)))
    assert result.code == 0, result.err
    assert result.out.strip() == "imported 3 members (2 updated)"
    updated = member(svc, "+12125550101")
    assert (updated.language, updated.zone) == ("es", "north")
    assert registry.places(svc.cipher, updated).trees == {"ice": 1, "eviction": 1}
    pending = member(svc, "+12125550102")
    assert (pending.status, pending.zone) == ("active", "south") and pending.consented_at is not None


def test_channel_column_sets_how_members_get_alerts(run, svc, csv_file):
    """A `channel` column sets sms, voice or both (any case; blank is sms); updating a member without the
    column leaves their channel alone."""
    text = "phone,channel\n2125550101,voice\n2125550102,BOTH\n2125550103,\n"
    result = run("members", "import", str(csv_file(text)))
    assert result.code == 0, result.err
    assert [member(svc, f"+1212555010{i}").channel for i in (1, 2, 3)] == ["voice", "both", "sms"]
    assert run("members", "import", str(csv_file("phone,language\n2125550101,es\n"))).code == 0
    assert member(svc, "+12125550101").channel == "voice"
    assert run("members", "import", str(csv_file("phone,channel\n2125550101,sms\n"))).code == 0
    assert member(svc, "+12125550101").channel == "sms"


def test_bad_channel_rejects_the_row_with_a_reason(run, svc, csv_file):
    """A channel that is not sms, voice or both rejects its row (and so the file), saying what is allowed."""
    text = "phone,channel\n2125550101,voice\n2125550102,phone\n"
    result = run("members", "import", str(csv_file(text)))
    assert result.code == 1
    assert "row 3: channel: must be one of sms, voice, both" in result.err
    assert count_members(svc) == 0


def test_opted_out_member_is_rejected(run, svc, csv_file):
    """Someone who texted STOP cannot be re-added by a coordinator; the whole import stops."""
    add_member(svc, "+12125550102", status=MemberStatus.OPTED_OUT)
    result = run("members", "import", str(csv_file(GOOD)))
    assert result.code == 1
    assert "row 3: phone: opted out by texting STOP; they must text START themselves" in result.err
    assert member(svc, "+12125550102").status == MemberStatus.OPTED_OUT.value
    assert member(svc, "+12125550101") is None


def test_welcome_texts_are_recorded_in_each_language_and_queued(run, svc, csv_file):
    """--welcome records one welcome per new member, in their language, and queues it on the bulk queue."""
    add_member(svc, "+12125550103")  # already active: already welcomed
    result = run("members", "import", str(csv_file(GOOD)), "--welcome")
    assert result.code == 0, result.err
    assert result.out.strip() == "imported 3 members (1 updated), 2 welcome texts queued"
    with svc.db.session() as session:
        texts = session.scalars(select(OutboundMessage).where(OutboundMessage.purpose == "welcome")).all()
        bodies = {svc.phone_of(t.to_token): svc.cipher.decrypt(t.body_token) for t in texts}
        assert {t.dedupe_key for t in texts} == {f"welcome:{t.member_id}" for t in texts}
        ids = sorted(t.id for t in texts)
    assert bodies == {"+12125550101": render("welcome.imported", "es"),
                      "+12125550102": render("welcome.imported", "en")}
    jobs = queues.queue(svc, queues.BULK).get_jobs()
    assert len(jobs) == 1 and sorted(jobs[0].args[0]) == ids
    again = run("members", "import", str(csv_file(GOOD)), "--welcome")
    assert again.out.strip() == "imported 3 members (3 updated), 0 welcome texts queued"


def test_unreadable_file_or_no_phone_column_is_one_clear_line(run, svc, csv_file, tmp_path):
    """A missing file, a file without a phone column or with an unknown column: one line, exit 1."""
    missing = run("members", "import", str(tmp_path / "nope.csv"))
    assert missing.code == 1 and missing.err.strip().endswith("nope.csv: no such file")
    no_phone = run("members", "import", str(csv_file("name,zone\n2125550101,east\n")))
    assert no_phone.code == 1 and len(no_phone.err.strip().splitlines()) == 1
    assert "no phone column" in no_phone.err and "2125550101" not in no_phone.err
    typo = run("members", "import", str(csv_file("phone,langauge\n2125550101,es\n")))
    assert typo.code == 1 and "unknown column 'langauge'" in typo.err
    binary = tmp_path / "sheet.csv"
    binary.write_bytes(b"\xff\xfe\x00p\x00h")
    assert run("members", "import", str(binary)).code == 1
    assert count_members(svc) == 0
