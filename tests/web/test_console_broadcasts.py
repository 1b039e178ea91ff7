"""The broadcast pages: compose, count, confirm, send once, progress, cancel, templates, and every
route's guard (signed out -> login, no CSRF token -> 400, bad input -> a sentence and nothing made)."""

from __future__ import annotations

import dataclasses
import re
import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from rapidresponse.broadcasts import service as broadcasts
from rapidresponse.broadcasts.models import Broadcast, BroadcastStatus, BroadcastTemplate
from rapidresponse.members.models import Member, MemberStatus
from rapidresponse.messaging.models import DeliveryStatus, OutboundMessage
from tests.conftest import add_member
from tests.web.test_console_auth import add_coordinator, sign_in

NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
KEY = "k" * 32


def seed(svc) -> dict[str, int]:
    """Six reachable members in different places, plus three who must never get a broadcast."""
    ids = {
        "ana": add_member(svc, "+12125550101", language="es", zone="eastside", roles="responder", trees={"ice": 1}),
        "ben": add_member(svc, "+12125550102", language="en", zone="eastside", roles="responder", trees={"ice": 2}),
        "cruz": add_member(svc, "+12125550103", language="es", zone="westside", roles="responder",
                           trees={"eviction": 1}),
        "dee": add_member(svc, "+12125550104", language="en", zone="westside"),
        "eli": add_member(svc, "+12125550105", language="en"),
        "fay": add_member(svc, "+12125550106", language="es", zone="eastside", roles="responder",
                          trees={"ice": 3, "eviction": 2}),
        "pending": add_member(svc, "+12125550107", status=MemberStatus.PENDING),
        "stopped": add_member(svc, "+12125550108", status=MemberStatus.OPTED_OUT),
        "landline": add_member(svc, "+12125550109"),
    }
    with svc.db.session() as session:
        session.get(Member, ids["landline"]).undeliverable_code = 30006
    return ids


@pytest.fixture
def signed_in(client, svc):
    add_coordinator(svc)
    assert sign_in(client).status_code == 302
    return client


def form(**overrides) -> dict:
    data = {"key": KEY, "text_en": "Meeting tonight at 7, community center.", "text_es": ""}
    data.update(overrides)
    return data


def count_of(svc, model=Broadcast) -> int:
    with svc.db.session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def plan_all(svc, broadcast_id: int) -> None:
    """What the planning job does, inline."""
    while True:
        with svc.db.session() as session:
            step = broadcasts.plan_chunk(session, svc.cipher, svc.trees, broadcast_id, NOW, chunk=2)
        if step.finished or step.stopped:
            return


def texts_of(svc, broadcast_id: int) -> list[OutboundMessage]:
    with svc.db.session() as session:
        rows = list(session.scalars(select(OutboundMessage).where(OutboundMessage.broadcast_id == broadcast_id)))
        session.expunge_all()
        return rows


def audit_entries(svc) -> list[tuple]:
    """The audit log as (action, target, target id, count), oldest first: never a body or a number."""
    from rapidresponse.audit import AuditEvent

    with svc.db.session() as session:
        return [(e.action, e.target, e.target_id, e.count)
                for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))]


def two_coordinators(app, svc) -> tuple:
    """Ana and Ben, each signed in on their own device."""
    add_coordinator(svc)
    add_coordinator(svc, email="ben@example.org")
    ana, ben = app.test_client(), app.test_client()
    sign_in(ana)
    sign_in(ben, email="ben@example.org")
    return ana, ben


ROUTES_GET = ["/broadcasts", "/broadcasts/new", "/broadcasts/audience.json", "/broadcasts/1",
              "/broadcasts/1/progress.json"]
ROUTES_POST = ["/broadcasts/preview", "/broadcasts", "/broadcasts/edit", "/broadcasts/1/cancel",
               "/broadcasts/templates", "/broadcasts/templates/1/delete"]


def test_every_broadcast_page_sends_a_signed_out_visitor_to_login(client, svc):
    """Signed out, every broadcast page and action redirects to /login and changes nothing."""
    for path in ROUTES_GET:
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"].startswith("/login"), path
    for path in ROUTES_POST:
        response = client.post(path, data=form())
        assert response.status_code == 302 and response.headers["Location"].startswith("/login"), path
    assert count_of(svc) == 0


def test_every_broadcast_action_refuses_a_post_without_csrf_token(app, svc):
    """With CSRF on, as in production, every POST lacking the token is a 400 and nothing is made."""
    app.config["WTF_CSRF_ENABLED"] = True
    add_coordinator(svc)
    client = app.test_client()
    page = client.get("/login").data.decode()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    client.post("/login", data={"email": "ana@example.org", "password": "correct horse battery staple",
                                "csrf_token": token})
    assert client.get("/broadcasts").status_code == 200
    for path in ROUTES_POST:
        assert client.post(path, data=form()).status_code == 400, path
    assert count_of(svc) == 0 and count_of(svc, BroadcastTemplate) == 0


def test_audience_counts_only_reachable_members_by_language(signed_in, svc):
    """Everyone active is counted by language; pending, opted-out and undeliverable members never are."""
    seed(svc)
    everyone = signed_in.get("/broadcasts/audience.json").get_json()
    assert everyone["total"] == 6
    assert everyone["by_language"] == {"en": 3, "es": 3}
    assert everyone["summary"] == "6 members: 3 en, 3 es"


@pytest.mark.parametrize(("query", "expected"), [
    ("places=ice", {"ana", "ben", "fay"}),
    ("places=ice:1", {"ana"}),
    ("places=ice:1&places=eviction", {"ana", "cruz", "fay"}),
    ("zones=eastside", {"ana", "ben", "fay"}),
    ("zones=eastside&zones=westside", {"ana", "ben", "cruz", "dee", "fay"}),
    ("languages=es", {"ana", "cruz", "fay"}),
    ("places=ice&zones=eastside&languages=es", {"ana", "fay"}),
    ("places=eviction&zones=eastside", {"fay"}),
    ("places=copwatch", set()),
])  # fmt: skip
def test_audience_filters_combine(signed_in, svc, query, expected):
    """Trees, layers, zones and languages: any within a kind, all across kinds."""
    ids = seed(svc)
    counted = signed_in.get(f"/broadcasts/audience.json?{query}").get_json()
    assert counted["total"] == len(expected)
    with svc.db.session() as session:
        audience = broadcasts.make_audience(svc.trees, *[
            [v for k, v in (p.split("=") for p in query.split("&")) if k == kind]
            for kind in ("places", "zones", "languages")])
        step_ids = {m.id for m in broadcasts.recipients(session, broadcasts.select(*broadcasts.RECIPIENT_COLUMNS)
                                                         .where(*broadcasts._reachable(svc.cipher, svc.trees,
                                                                                       audience)))}
    assert step_ids == {ids[name] for name in expected}


def test_audience_endpoint_refuses_an_unknown_tree_with_a_sentence(signed_in, svc):
    """A crafted audience gets a 400 naming what is unknown."""
    response = signed_in.get("/broadcasts/audience.json?places=nosuch")
    assert response.status_code == 400 and "nosuch" in response.get_json()["error"]


def test_compose_page_shows_the_count_and_a_fresh_key(signed_in, svc):
    """The form shows the recipient count for everyone and carries a random idempotency key."""
    seed(svc)
    first = signed_in.get("/broadcasts/new").data.decode()
    second = signed_in.get("/broadcasts/new").data.decode()
    assert "6 members: 3 en, 3 es" in first
    key = re.search(r'name="key" type="hidden" value="([^"]+)"', first).group(1)
    assert len(key) >= 32 and key not in second
    assert 'name="text_en"' in first and 'name="text_es"' in first and 'name="drill"' in first


def test_preview_shows_each_language_as_received_with_segments_and_time(app, signed_in, svc):
    """The confirmation lists recipients, each language's text (Spanish falling back to English,
    said so), its segments, the total, and the time at the configured rate."""
    seed(svc)
    svc.settings = dataclasses.replace(svc.settings, send_rate_segments_per_second=1.0)
    long_text = "Know your rights. " * 12  # 216 characters: two GSM-7 segments
    page = signed_in.post("/broadcasts/preview", data=form(text_en=long_text)).data.decode()
    assert "6 members: 3 en, 3 es" in page
    assert "No Español text: these members get the English text." in page
    assert "2 segments each" in page
    assert "<b>12</b> in all" in page
    assert "about 12 s at 1 segment/s" in page
    assert count_of(svc) == 0  # a preview sends nothing


def test_preview_estimate_in_minutes(signed_in, svc):
    """At 1 segment/s, 412 segments read as 'about 7 min at 1 segment/s'."""
    shown = broadcasts.estimate(412 / 1.0, 1.0)
    assert shown == "about 7 min at 1 segment/s"


def test_drill_marks_every_text_in_its_language(signed_in, svc):
    """A drill is marked DRILL in English and SIMULACRO in Spanish, the fallback text too."""
    seed(svc)
    page = signed_in.post("/broadcasts/preview", data=form(drill="y")).data.decode()
    assert "DRILL: Meeting tonight" in page
    assert "SIMULACRO: Meeting tonight" in page
    page = signed_in.post("/broadcasts/preview", data=form(drill="y", text_es="Reunión esta noche")).data.decode()
    assert "SIMULACRO: Reunión esta noche" in page


@pytest.mark.parametrize(("data", "message"), [
    (form(text_en="   "), "Write the English text"),
    (form(text_en="a" * 1601), "the most one text can carry is 1600"),
    (form(places="nosuch"), "There is no tree or layer called"),
    (form(zones="atlantis"), "No active member is in zone"),
    (form(languages="fr"), "Unknown language"),
    (form(key=""), "This form has expired"),
    (form(key="short"), "This form has expired"),
])  # fmt: skip
@pytest.mark.parametrize("path", ["/broadcasts/preview", "/broadcasts"])
def test_bad_input_gets_a_sentence_and_nothing_is_sent(signed_in, svc, path, data, message):
    """Each bad value re-shows the form with a clear sentence (400); no broadcast is recorded."""
    seed(svc)
    response = signed_in.post(path, data=data)
    assert response.status_code == 400
    assert message in response.data.decode()
    assert count_of(svc) == 0


def test_send_records_one_broadcast_and_its_texts(signed_in, svc):
    """Send records the broadcast with a text per language, then planning writes one BULK
    broadcast text per reachable member, in their language, with its dedupe key."""
    ids = seed(svc)
    response = signed_in.post("/broadcasts", data=form(text_es="Reunión esta noche a las 7."))
    assert response.status_code == 303
    broadcast_id = int(response.headers["Location"].rsplit("/", 1)[1])
    plan_all(svc, broadcast_id)
    rows = texts_of(svc, broadcast_id)
    assert sorted(r.member_id for r in rows) == sorted(ids[n] for n in ("ana", "ben", "cruz", "dee", "eli", "fay"))
    assert {r.dedupe_key for r in rows} == {f"broadcast:{broadcast_id}:{r.member_id}" for r in rows}
    assert {r.purpose for r in rows} == {"broadcast"}
    bodies = {r.member_id: svc.cipher.decrypt(r.body_token) for r in rows}
    assert bodies[ids["ana"]] == "Reunión esta noche a las 7."
    assert bodies[ids["ben"]] == "Meeting tonight at 7, community center."
    with svc.db.session() as session:
        b = session.get(Broadcast, broadcast_id)
        assert (b.status, b.recipients) == (BroadcastStatus.SENDING.value, 6)
        assert b.segments_total == 6


def test_double_click_reload_and_resubmit_send_one_broadcast(signed_in, svc):
    """The same form posted again (a double click, a reload, Back then Send) finds the broadcast it
    made: one broadcast, one text per member, and the page says it was already sent."""
    seed(svc)
    first = signed_in.post("/broadcasts", data=form())
    again = signed_in.post("/broadcasts", data=form(), follow_redirects=True)
    assert first.status_code == 303
    assert "already sent" in again.data.decode()
    assert count_of(svc) == 1
    broadcast_id = int(first.headers["Location"].rsplit("/", 1)[1])
    plan_all(svc, broadcast_id)
    assert len(texts_of(svc, broadcast_id)) == 6
    assert audit_entries(svc) == [("broadcast", "broadcast", broadcast_id, None)]  # sent once, audited once
    # Back to the confirmation (a resubmitted preview): it says so and offers no Send button.
    page = signed_in.post("/broadcasts/preview", data=form()).data.decode()
    assert "This broadcast was already sent" in page and 'id="send-button"' not in page


def test_two_sessions_pressing_send_at_once_make_one_broadcast(app, svc):
    """The same form sent from two signed-in sessions at the same moment: one broadcast."""
    seed(svc)
    clients = two_coordinators(app, svc)
    barrier = threading.Barrier(len(clients) * 3)
    statuses: list[int] = []

    def press(client) -> None:
        barrier.wait()
        statuses.append(client.post("/broadcasts", data=form()).status_code)

    threads = [threading.Thread(target=press, args=(c,)) for c in clients for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [303] * 6
    assert count_of(svc) == 1


def test_two_coordinators_sending_the_same_broadcast_get_one_unless_asked_twice(app, svc):
    """Two different forms with the same texts and audience within minutes: the second is told an
    identical broadcast just went out (409), and only "Send it anyway" sends it again."""
    seed(svc)
    ana, ben = two_coordinators(app, svc)
    assert ana.post("/broadcasts", data=form(key="a" * 32)).status_code == 303
    refused = ben.post("/broadcasts", data=form(key="b" * 32))
    assert refused.status_code == 409
    assert "An identical broadcast went out a few minutes ago" in refused.data.decode()
    assert count_of(svc) == 1
    assert ben.post("/broadcasts", data=form(key="b" * 32, send_anyway="y")).status_code == 303
    assert count_of(svc) == 2


def test_identical_forms_pressed_at_once_by_two_coordinators_make_one(app, svc):
    """Two coordinators' own forms (different keys), identical content, pressed at the same moment: one."""
    seed(svc)
    ana, ben = two_coordinators(app, svc)
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def press(client, key) -> None:
        barrier.wait()
        statuses.append(client.post("/broadcasts", data=form(key=key)).status_code)

    threads = [threading.Thread(target=press, args=(ana, "a" * 32)),
               threading.Thread(target=press, args=(ben, "b" * 32))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [303, 409]
    assert count_of(svc) == 1


def test_progress_page_and_json_show_counts(signed_in, svc):
    """The broadcast's page shows its texts and counts; the JSON gives queued/sent/delivered/failed."""
    seed(svc)
    broadcast_id = int(signed_in.post("/broadcasts", data=form()).headers["Location"].rsplit("/", 1)[1])
    plan_all(svc, broadcast_id)
    rows = texts_of(svc, broadcast_id)
    with svc.db.session() as session:
        for row, status in zip(rows, ["delivered", "delivered", "queued", "failed", "pending", "pending"],
                               strict=True):
            message = session.get(OutboundMessage, row.id)
            message.status = status
            message.sent_at = NOW if status != "pending" else None
    data = signed_in.get(f"/broadcasts/{broadcast_id}/progress.json").get_json()
    assert data == {"id": broadcast_id, "status": "sending", "done": False, "percent": 66, "recipients": 6,
                    "queued": 2, "sent": 4, "delivered": 2, "failed": 1, "cancelled": 0, "opted_out_since": 0}
    page = signed_in.get(f"/broadcasts/{broadcast_id}").data.decode()
    assert "Meeting tonight at 7" in page and 'id="c-queued">2<' in page and "Cancel broadcast" in page
    listing = signed_in.get("/broadcasts").data.decode()
    assert f"#{broadcast_id} Meeting tonight" in listing


def test_unknown_broadcast_is_404(signed_in, svc):
    """A broadcast that does not exist is a 404 on every page of it."""
    assert signed_in.get("/broadcasts/99").status_code == 404
    assert signed_in.get("/broadcasts/99/progress.json").status_code == 404
    assert signed_in.post("/broadcasts/99/cancel").status_code == 404
    assert signed_in.get("/broadcasts/99999999999").status_code == 404


def test_cancel_stops_what_was_not_handed_over_and_says_how_many_went(signed_in, svc):
    """Cancelling turns every text still waiting into cancelled; the page says how many were sent."""
    seed(svc)
    broadcast_id = int(signed_in.post("/broadcasts", data=form()).headers["Location"].rsplit("/", 1)[1])
    plan_all(svc, broadcast_id)
    rows = texts_of(svc, broadcast_id)
    with svc.db.session() as session:
        for row in rows[:2]:
            message = session.get(OutboundMessage, row.id)
            message.status, message.sent_at = DeliveryStatus.QUEUED.value, NOW
        session.get(OutboundMessage, rows[2].id).status = DeliveryStatus.SENDING.value
    page = signed_in.post(f"/broadcasts/{broadcast_id}/cancel", follow_redirects=True).data.decode()
    assert "Broadcast cancelled: 2 sent before it stopped, 4 never will be." in page
    statuses = sorted(r.status for r in texts_of(svc, broadcast_id))
    assert statuses == ["cancelled"] * 4 + ["queued"] * 2
    again = signed_in.post(f"/broadcasts/{broadcast_id}/cancel", follow_redirects=True).data.decode()
    assert "had already finished; nothing was cancelled" in again
    assert audit_entries(svc)[-1] == ("broadcast_cancel", "broadcast", broadcast_id, 4)


def test_templates_are_saved_reused_and_deleted(signed_in, svc):
    """A broadcast saved as a template opens the form with its texts and drill box; it can be deleted."""
    saved = signed_in.post("/broadcasts/templates", data=form(name="  meeting   tonight ", drill="y",
                                                              text_es="Reunión esta noche"))
    assert saved.status_code == 200 and "Template “meeting tonight” saved." in saved.data.decode()
    with svc.db.session() as session:
        template_id = session.scalar(select(BroadcastTemplate.id))
        stored = session.get(BroadcastTemplate, template_id)
        assert b"meeting" not in stored.name_token and b"Reuni" not in stored.texts_token  # encrypted
    page = signed_in.get(f"/broadcasts/new?template={template_id}").data.decode()
    assert "Reunión esta noche" in page and "Meeting tonight at 7" in page
    assert re.search(r'name="drill"[^>]*checked|checked[^>]*name="drill"', page)
    listing = signed_in.get("/broadcasts/new").data.decode()
    assert "meeting tonight" in listing
    assert signed_in.post(f"/broadcasts/templates/{template_id}/delete").status_code == 303
    assert count_of(svc, BroadcastTemplate) == 0
    assert signed_in.get(f"/broadcasts/new?template={template_id}").status_code == 404
    assert signed_in.get("/broadcasts/new?template=abc").status_code == 404


def test_template_needs_a_name(signed_in, svc):
    """Saving a template without a name says so, and saves nothing."""
    response = signed_in.post("/broadcasts/templates", data=form(name="  "))
    assert response.status_code == 400 and "Give the template a name" in response.data.decode()
    assert count_of(svc, BroadcastTemplate) == 0


def test_edit_returns_to_the_form_with_everything_kept(signed_in, svc):
    """Back to edit from the confirmation shows the form with the texts, ticks and the same key."""
    seed(svc)
    page = signed_in.post("/broadcasts/edit", data=form(places="ice", text_es="Hola")).data.decode()
    assert f'value="{KEY}"' in page and "Hola" in page
    assert re.search(r'value="ice"[^>]*checked|checked[^>]*value="ice"', page)


def test_what_a_coordinator_wrote_is_stored_encrypted(signed_in, svc):
    """The texts and the audience (which can name a tree) are not readable without the key."""
    seed(svc)
    broadcast_id = int(signed_in.post("/broadcasts", data=form(places="ice")).headers["Location"]
                       .rsplit("/", 1)[1])
    with svc.db.session() as session:
        b = session.get(Broadcast, broadcast_id)
        assert b"ice" not in b.audience_token
        assert all(b"Meeting" not in t.body_token for t in b.texts)


def test_reply_window_setting_is_checked_at_start(tmp_path):
    """BROADCAST_REPLY_HOURS beyond 30 days stops start-up with a line naming it."""
    from rapidresponse.settings import Settings, SettingsError
    from tests.conftest import test_env

    with pytest.raises(SettingsError, match="^BROADCAST_REPLY_HOURS"):
        Settings.from_env(test_env(tmp_path, "sqlite://", BROADCAST_REPLY_HOURS="1000"))
    with pytest.raises(SettingsError, match="^BROADCAST_REPLY_HOURS"):
        Settings.from_env(test_env(tmp_path, "sqlite://", BROADCAST_REPLY_HOURS="soon"))


