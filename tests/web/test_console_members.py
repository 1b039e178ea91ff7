"""The members pages: search by name or last four digits (numbers always masked), add, edit, remove,
CSV import with a preview of every refused row, CSV export for admins; each change audited."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from rapidresponse.members import registry
from rapidresponse.members.models import Member, MemberStatus
from tests.conftest import add_member
from tests.web.test_console_audit import ADMIN_EMAIL, every_audit_value, log_of, make_admin
from tests.web.test_console_auth import add_coordinator, sign_in
from tests.web.test_console_incidents import forms_of

ANA, BEN, CARLA = "+12125550101", "+12125554521", "+13105554521"


@pytest.fixture
def admin(client, svc) -> int:
    admin_id = make_admin(svc)
    assert sign_in(client, email=ADMIN_EMAIL).status_code == 302
    return admin_id


@pytest.fixture
def coordinator(client, svc) -> int:
    coordinator_id = add_coordinator(svc)
    assert sign_in(client).status_code == 302
    return coordinator_id


def named(svc, phone: str, name: str, **kw) -> int:
    member_id = add_member(svc, phone, **kw)
    with svc.db.session() as session:
        session.get(Member, member_id).name_token = svc.cipher.encrypt(name)
    return member_id


@pytest.fixture
def people(svc) -> dict[str, int]:
    return {
        "ana": named(svc, ANA, "Ana Martínez", language="es", zone="eastside", roles="responder",
                     trees={"ice": 1}),
        "ben": named(svc, BEN, "Ben Okafor", zone="westside"),
        "carla": named(svc, CARLA, "Carla Díaz", roles="responder", trees={"ice": 2, "eviction": 1}),
    }


def members(svc) -> int:
    with svc.db.session() as session:
        return int(session.scalar(select(func.count()).select_from(Member)))


def assert_no_full_number(page: str, *numbers: str) -> None:
    for number in numbers:
        for form in forms_of(number):
            assert form not in page, form


def test_search_by_last_four_digits_finds_every_match_masked(client, svc, coordinator, people):
    """'4521' finds both members whose numbers end in 4521, shown as …4521, and nobody else."""
    page = client.get("/members?q=4521").data.decode()
    assert "2 found by last digits" in page
    assert "Ben Okafor" in page and "Carla Díaz" in page and "Ana" not in page
    assert page.count("…4521") == 2
    assert_no_full_number(page, ANA, BEN, CARLA)


def test_search_by_name_ignores_case_and_accents(client, svc, coordinator, people):
    """'martinez' finds Ana Martínez; 'DIAZ' finds Carla Díaz."""
    assert "Ana Martínez" in client.get("/members?q=martinez").data.decode()
    page = client.get("/members?q=DIAZ").data.decode()
    assert "Carla Díaz" in page and "Ben" not in page and "1 found by name" in page


def test_a_full_number_finds_exactly_that_member(client, svc, coordinator, people):
    """A whole number, in any common form, is looked up by its blind index."""
    page = client.get("/members?q=(212) 555-4521").data.decode()
    assert "1 found by number" in page and "Ben Okafor" in page and "Carla" not in page


def test_list_shows_roles_trees_zone_language_and_status(client, svc, coordinator, people):
    """Without a query every member is listed with what a coordinator needs to know about them."""
    add_member(svc, "+12125550199", status=MemberStatus.PENDING)
    page = client.get("/members").data.decode()
    assert "Members <span class=\"muted\">(4)</span>" in page
    assert "responder" in page and "ice layer 1" in page and "eviction layer 1" in page
    assert "eastside" in page and "pending (not confirmed yet)" in page and "alerts by text" in page
    assert_no_full_number(page, ANA, BEN, CARLA, "+12125550199")
    assert "Carla" not in client.get("/members?tree=ice&q=ana").data.decode()
    assert "Carla" in client.get("/members?tree=eviction").data.decode()
    assert "Ben" not in client.get("/members?tree=eviction").data.decode()
    assert "…0199" in client.get("/members?status=pending").data.decode()


@pytest.mark.parametrize("query", ["?q=" + "9" * 500, "?page=0", "?page=99999999999", "?status=nope",
                                   "?tree=nope", "?q=%00", "?q=+", "?q=1"])
def test_odd_queries_answer_with_a_page_never_a_500(client, svc, coordinator, people, query):
    """Oversized, empty-looking or unknown filters give a normal page."""
    assert client.get("/members" + query).status_code == 200


def test_an_opted_out_member_shows_as_opted_out_with_nothing_to_edit(client, svc, admin, people):
    """Someone who texted STOP keeps only the STOP; the page says so and offers no edit form."""
    with svc.db.session() as session:
        member = session.get(Member, people["ben"])
        registry.opt_out(svc.cipher, member, member.created_at)
    page = client.get(f"/members/{people['ben']}").data.decode()
    assert "opted out (texted STOP)" in page and "(wiped after STOP)" in page and "Save" not in page
    refused = client.post(f"/members/{people['ben']}", data={"name": "Ben", "language": "en"})
    assert refused.status_code == 400 and "texted STOP" in refused.data.decode()


def test_admin_adds_a_member_through_the_importers_checks(client, svc, admin):
    """The add form takes the same values as a CSV row, checked the same way; the new member is active
    and in the layers chosen; the audit log says who added which member."""
    response = client.post("/members/new", data={
        "phone": "(212) 555-0177", "name": "Dee", "language": "es", "zone": "North Side",
        "roles": ["responder"], "tree-ice": "2", "channel": "both"})
    assert response.status_code == 302
    with svc.db.session() as session:
        member = registry.find_by_phone(session, svc.cipher, "+12125550177")
        assert member.status == "active" and member.zone == "north side" and member.language == "es"
        assert registry.places(svc.cipher, member).trees == {"ice": 2}
        assert member.channel == "both"
        assert registry.has_role(svc.cipher, member, registry.Role.RESPONDER)
    assert log_of(svc) == [(admin, "member_add", "member", member.id)]
    assert "0177" not in every_audit_value(svc) and "Dee" not in every_audit_value(svc)


@pytest.mark.parametrize(("data", "message"), [
    ({"phone": "", "language": "en"}, "no phone number given"),
    ({"phone": "12", "language": "en"}, "not a possible phone number"),
    ({"phone": ANA, "language": "en"}, "already a member"),
    ({"phone": "+12125550178", "language": "fr"}, "Not a valid choice"),
    ({"phone": "+12125550178", "language": "en", "zone": "<script>"}, "a zone is up to 64"),
    ({"phone": "+12125550178", "language": "en", "roles": ["boss"]}, "unknown role"),
    ({"phone": "+12125550178", "language": "en", "tree-ice": "9"}, "ice has layers 1 to 3"),
    ({"phone": "+12125550178", "language": "en", "name": "x" * 150}, "longer than 100"),
    ({"phone": "+12125550178", "language": "en", "channel": "fax"}, "Not a valid choice"),
])
def test_a_bad_member_form_says_why_and_adds_nobody(client, svc, admin, people, data, message):
    """Every refused value is named on the form again; nothing is written and nothing audited."""
    before = members(svc)
    response = client.post("/members/new", data=data)
    assert response.status_code == 400
    assert message in response.data.decode()
    assert members(svc) == before and log_of(svc) == []


def test_adding_someone_who_texted_stop_is_refused(client, svc, admin):
    """A number that texted STOP cannot be put back by a coordinator."""
    member_id = add_member(svc, "+12125550179")
    with svc.db.session() as session:
        member = session.get(Member, member_id)
        registry.opt_out(svc.cipher, member, member.created_at)
    response = client.post("/members/new", data={"phone": "+12125550179", "language": "en"})
    assert response.status_code == 400 and "text START themselves" in response.data.decode()


def test_admin_edits_a_member_and_it_is_audited(client, svc, admin, people):
    """Name, language, zone, roles and tree places change together; the number stays."""
    response = client.post(f"/members/{people['ana']}", data={
        "name": "Ana M.", "language": "en", "zone": "centro", "tree-eviction": "2", "channel": "voice"})
    assert response.status_code == 302
    with svc.db.session() as session:
        member = session.get(Member, people["ana"])
        assert svc.cipher.decrypt(member.name_token) == "Ana M." and member.zone == "centro"
        assert member.channel == "voice"
        assert registry.places(svc.cipher, member).trees == {"eviction": 2}
        assert not registry.has_role(svc.cipher, member, registry.Role.RESPONDER)
        assert svc.cipher.decrypt(member.phone_token) == ANA and member.status == "active"
    assert log_of(svc) == [(admin, "member_edit", "member", people["ana"])]
    bad = client.post(f"/members/{people['ana']}", data={"language": "en", "zone": "!!"})
    assert bad.status_code == 400 and "a zone is up to 64" in bad.data.decode()
    assert len(log_of(svc)) == 1


def test_admin_removes_a_member_after_a_confirmation_page(client, svc, admin, people):
    """Remove asks first (GET shows the question), then deletes the member; audited."""
    assert "Remove …0101" in client.get(f"/members/{people['ana']}/remove").data.decode()
    assert client.post(f"/members/{people['ana']}/remove").status_code == 302
    with svc.db.session() as session:
        assert session.get(Member, people["ana"]) is None
    assert log_of(svc) == [(admin, "member_remove", "member", people["ana"])]
    assert client.post(f"/members/{people['ana']}/remove").status_code == 404


def test_unknown_member_is_404(client, svc, admin):
    """A member id that is not there is a 404 on every member page."""
    for path in ("/members/999", "/members/999/remove"):
        assert client.get(path).status_code == 404
    assert client.post("/members/999", data={"language": "en"}).status_code == 404
    assert client.post("/members/999/remove").status_code == 404


def upload(client, text: str, path: str = "/members/import", **extra):
    return client.post(path, data={"file": (io.BytesIO(text.encode("utf-8")), "people.csv"), **extra},
                       content_type="multipart/form-data")


GOOD = f"phone,name,language,zone,roles,trees\n+12125550201,Eve,es,eastside,responder,ice:1\n{ANA},Ana,en,,,\n"


def test_import_previews_then_imports_on_confirmation(client, svc, admin, people):
    """Uploading checks every row and shows what would happen without writing; confirming imports it."""
    preview = upload(client, GOOD)
    page = preview.data.decode()
    assert preview.status_code == 200 and "2 rows would import: 1 new, 1 updated" in page
    assert members(svc) == 3 and log_of(svc) == []
    token = page.split('name="upload" type="hidden" value="', 1)[1].split('"', 1)[0]
    assert "+1212555" not in token  # the file rides encrypted between the two steps
    done = client.post("/members/import/confirm", data={"upload": token, "welcome": ""}, follow_redirects=True)
    assert "Imported 2 members (1 new, 1 updated)" in done.data.decode()
    assert members(svc) == 4
    assert [(a, c) for a, c, *_ in log_of(svc)] == [(admin, "members_import")]


def test_import_preview_lists_every_refused_row_and_why_and_writes_nothing(client, svc, admin, people):
    """Each refused row is shown with its row number, column and reason; no confirm button; nothing written."""
    with svc.db.session() as session:
        member = session.get(Member, people["ben"])
        registry.opt_out(svc.cipher, member, member.created_at)
    text = ("phone,language,trees\n+12125550201,en,ice:1\nnot-a-number,en,\n+12125550202,fr,ice:7\n"
            f"{BEN},en,\n")
    response = upload(client, text)
    page = response.data.decode()
    assert response.status_code == 400
    assert "row 3: <strong>phone</strong>" in page
    assert "row 4: <strong>language</strong>: must be one of" in page
    assert "row 4: <strong>trees</strong>: ice has layers 1 to 3, not 7" in page
    assert "row 5: <strong>phone</strong>: opted out by texting STOP" in page
    assert "3 rows are" in page and "Import 1 members" not in page
    assert members(svc) == 3 and log_of(svc) == []


@pytest.mark.parametrize(("content", "message"), [
    ("", "empty"), ("name,zone\nAna,east\n", "no phone column"), ("phone,colour\n+12125550201,red\n", "unknown column"),
    ("phone\n", "only the header row"),
])
def test_an_unusable_file_says_why(client, svc, admin, content, message):
    """An empty file, a header without phone, an unknown column or no rows: one clear line, nothing written."""
    response = upload(client, content)
    assert response.status_code == 400 and message in response.data.decode()
    assert members(svc) == 0


def test_import_without_a_file_or_not_utf8_says_why(client, svc, admin):
    """No file chosen, or a file in another encoding, is refused with what to do."""
    assert "Choose a CSV file" in client.post("/members/import", data={}).data.decode()
    latin = client.post("/members/import", data={"file": (io.BytesIO("phone,name\n+12125550201,Jos\xe9\n"
                                                                      .encode("latin-1")), "x.csv")},
                        content_type="multipart/form-data")
    assert latin.status_code == 400 and "not UTF-8" in latin.data.decode()


def test_a_tampered_confirmation_imports_nothing(client, svc, admin):
    """A confirmation whose file does not decrypt is refused with 400."""
    assert client.post("/members/import/confirm", data={"upload": "gAAAAAforged"}).status_code == 400
    assert client.post("/members/import/confirm", data={}).status_code == 400
    assert members(svc) == 0


def test_export_is_a_csv_the_import_reads_back_audited(client, svc, admin, people):
    """Admins get every active member with full numbers, in the import's columns; the log records it."""
    add_member(svc, "+12125550199", status=MemberStatus.PENDING)
    response = client.post("/members/export")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    lines = response.data.decode().splitlines()
    assert lines[0] == "phone,name,language,zone,roles,trees,channel"
    assert f"{ANA},Ana Martínez,es,eastside,responder,ice:1,sms" in lines
    assert f"{CARLA},Carla Díaz,en,,responder,eviction:1;ice:2,sms" in lines
    assert len(lines) == 4  # the pending member is not exported
    assert log_of(svc) == [(admin, "members_export", None, None)]
    with svc.db.session() as session:
        from rapidresponse.audit.models import AuditEvent
        assert session.scalars(select(AuditEvent.count)).all() == [3]


ADMIN_ONLY = [("GET", "/members/new"), ("POST", "/members/new"), ("POST", "/members/1"),
              ("GET", "/members/1/remove"), ("POST", "/members/1/remove"), ("GET", "/members/import"),
              ("POST", "/members/import"), ("POST", "/members/import/confirm"), ("POST", "/members/export")]


def test_coordinators_search_and_read_but_only_admins_change_or_export(client, svc, coordinator, people):
    """A coordinator may search and open members; every change, import and export is 403 for them."""
    assert client.get("/members?q=4521").status_code == 200
    page = client.get(f"/members/{people['ana']}").data.decode()
    assert "Ana Martínez" in page and "Save" not in page and "Remove" not in page
    assert "Export" not in client.get("/members").data.decode()
    for method, path in ADMIN_ONLY:
        path = path.replace("/1", f"/{people['ana']}")
        assert client.open(path, method=method, data={"phone": "+12125550180", "language": "en"}).status_code == 403
    assert members(svc) == 3 and log_of(svc) == []


def test_signed_out_visitors_are_sent_to_sign_in(client, svc, people):
    """Every members page, read or write, leads a signed-out visitor to /login."""
    for method, path in [("GET", "/members"), ("GET", "/members/1"), *ADMIN_ONLY]:
        response = client.open(path, method=method)
        assert response.status_code == 302 and response.headers["Location"].startswith("/login"), path
