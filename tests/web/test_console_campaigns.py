"""The campaign pages: create (once per form, every bad value a sentence), start (the ask through the
bulk outbox, once per member), ACTION / ACCION to join, end, the live figures and chart. (Every
route's guard, signed out -> login and no CSRF token -> 400, is test_console_routes.py's walk.)"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from rapidresponse.campaigns.models import Campaign, CampaignStatus
from rapidresponse.messaging.models import OutboundMessage, Purpose
from tests.conftest import Phone, add_member
from tests.web.campaign_helpers import SCRIPT_EN, WARDEN, campaign, make_campaign, texts_to
from tests.web.test_console_auth import add_coordinator, sign_in

KEY = "c" * 32
ANA, BEN, CRUZ = "+12125550141", "+12125550142", "+12125550143"


@pytest.fixture
def signed_in(client, svc):
    add_coordinator(svc)
    assert sign_in(client).status_code == 302
    return client


def when(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).strftime("%Y-%m-%dT%H:%M")


def form(**overrides) -> dict:
    data = {"key": KEY, "title": "End solitary at Elm County", "targets": f"Warden's office, {WARDEN}",
            "script_en": SCRIPT_EN, "script_es": "", "window_start": when(timedelta(hours=-1)),
            "window_end": when(timedelta(hours=4)), "ask_audience": "y", "join_by_keyword": "y"}
    data.update(overrides)
    return data


def campaigns_made(svc) -> int:
    with svc.db.session() as session:
        return session.scalar(select(func.count()).select_from(Campaign)) or 0


def asks(svc) -> list[OutboundMessage]:
    with svc.db.session() as session:
        rows = list(session.scalars(select(OutboundMessage).where(OutboundMessage.purpose.in_(
            [Purpose.BROADCAST.value, Purpose.CAMPAIGN.value])).order_by(OutboundMessage.id)))
        session.expunge_all()
        return rows


@pytest.mark.parametrize(("overrides", "sentence"), [
    ({"title": "  "}, "Give the campaign a title"),
    ({"targets": ""}, "Add at least one target"),
    ({"targets": "Warden +1 555"}, "Target line 1: write the name, a comma, then the number"),
    ({"targets": "Warden, 12"}, "Target line 1: &#39;12&#39; is not a phone number"),
    ({"script_en": ""}, "Write the English script"),
    ({"window_end": when(timedelta(hours=-2))}, "The window must close after it opens"),
    ({"window_start": when(timedelta(hours=-5)), "window_end": when(timedelta(hours=-2))},
     "The window has already closed"),
    ({"window_start": ""}, "Give the time window"),
    ({"ask_audience": "", "join_by_keyword": ""}, "Choose who is asked"),
    ({"places": "nosuchtree"}, "There is no tree or layer called"),
    ({"script_en": "x" * 1000, "targets": "\n".join(f"Office number {i}, +1312555{7000 + i}" for i in range(20))},
     "one text carries at most 1600"),
])
def test_a_bad_campaign_gets_a_sentence_and_nothing_is_made(signed_in, svc, overrides, sentence):
    """Each mistake is named on the form again (400), and no campaign is recorded."""
    response = signed_in.post("/campaigns", data=form(**overrides))
    assert response.status_code == 400
    assert sentence in response.data.decode()
    assert campaigns_made(svc) == 0


def test_a_double_submit_makes_one_campaign_and_asks_nobody(signed_in, svc):
    """The same form twice is one draft campaign; nobody is texted until it starts."""
    add_member(svc, ANA)
    first = signed_in.post("/campaigns", data=form())
    second = signed_in.post("/campaigns", data=form())
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    assert campaigns_made(svc) == 1 and asks(svc) == []
    page = signed_in.get(first.headers["Location"]).data.decode()
    assert "End solitary at Elm County" in page and "draft" in page and "Start campaign" in page


def test_starting_texts_the_ask_once_per_member_in_their_language(signed_in, svc):
    """Start (pressed twice) sends one broadcast: each reachable member gets the ask and script once,
    in their language, through the bulk outbox; the page counts the asks."""
    add_member(svc, ANA, language="es")
    add_member(svc, BEN)
    campaign_id = make_campaign(svc, start=False)
    for _ in range(2):
        assert signed_in.post(f"/campaigns/{campaign_id}/start").status_code == 303
    found = campaign(svc, campaign_id)
    assert found.status == CampaignStatus.RUNNING.value and found.broadcast_id is not None
    from tests.web.test_console_broadcasts import plan_all
    plan_all(svc, found.broadcast_id)
    plan_all(svc, found.broadcast_id)
    sent = asks(svc)
    assert len(sent) == 2 and len({m.dedupe_key for m in sent}) == 2
    bodies = {svc.cipher.decrypt(m.to_token): svc.cipher.decrypt(m.body_token) for m in sent}
    assert "Reply CALL" in bodies[BEN] and WARDEN in bodies[BEN] and SCRIPT_EN.split("\n")[0] in bodies[BEN]
    assert "Responde LLAMAR" in bodies[ANA] and "Llama a" in bodies[ANA]
    figures = signed_in.get(f"/campaigns/{campaign_id}/figures.json").get_json()
    assert figures["asks_waiting"] == 2 and figures["status"] == "running"


def test_action_and_accion_text_the_ask_once(client, svc):
    """A member outside the audience texts ACTION (or ACCION): the ask comes once, in their language;
    texting it again, or after the broadcast reached them, gets "you're in already"."""
    add_member(svc, ANA, language="es")
    add_member(svc, BEN, zone="eastside")
    add_member(svc, CRUZ, zone="westside")
    from rapidresponse.broadcasts.service import Audience
    make_campaign(svc, audience=Audience(zones=("eastside",)))
    assert Phone(client, CRUZ).reply_to("ACTION") == ""
    assert Phone(client, ANA).reply_to("acción") == ""
    assert "already" in Phone(client, CRUZ).reply_to("ACTION")
    assert "Ya estas" in Phone(client, ANA).reply_to("ACCION")
    assert "already" in Phone(client, BEN).reply_to("ACTION")  # the broadcast asked them
    [ask_cruz] = texts_to(svc, CRUZ)
    [ask_ana] = texts_to(svc, ANA)
    assert "Reply CALL" in ask_cruz and "Responde LLAMAR" in ask_ana
    assert texts_to(svc, BEN) == [] and len(texts_to(svc, BEN, Purpose.BROADCAST)) == 1


def test_action_with_no_campaign_taking_it_says_none_is_running(client, svc):
    """ACTION when no running campaign takes it: a clear "no call-in now"."""
    add_member(svc, ANA)
    make_campaign(svc, join=False)
    assert "No call-in is running" in Phone(client, ANA).reply_to("ACTION")


def test_ending_a_campaign_stops_calls_and_texts_the_summary_once(signed_in, svc, client):
    """End: the campaign is over, CALL gets "no call-in running", and the coordinators' summary is
    recorded once however often it is asked for."""
    from rapidresponse.campaigns import service as campaigns

    add_member(svc, ANA)
    coordinator = "+12125550149"
    add_member(svc, coordinator, roles="coordinator")
    campaign_id = make_campaign(svc)
    assert signed_in.post(f"/campaigns/{campaign_id}/end").status_code == 303
    assert signed_in.post(f"/campaigns/{campaign_id}/end").status_code == 303
    assert campaign(svc, campaign_id).status == CampaignStatus.ENDED.value
    assert "No call-in is running" in Phone(client, ANA).reply_to("CALL")
    for _ in range(2):
        with svc.db.session() as session:
            campaigns.summarise(session, svc.cipher, campaign_id, datetime.now(UTC))
    [summary] = texts_to(svc, coordinator)
    assert summary.startswith("Call-in ended: End solitary at Elm County.") and "calls bridged 0" in summary


def test_the_sweep_ends_a_campaign_at_its_window_end(svc):
    """Once its window has closed, the sweep ends the campaign (and summarises it)."""
    from rapidresponse.jobs import campaigns as campaign_jobs

    campaign_id = make_campaign(svc)
    assert campaign_jobs.sweep(svc, datetime.now(UTC) + timedelta(hours=1)) == 0
    assert campaign_jobs.sweep(svc, datetime.now(UTC) + timedelta(hours=4)) == 1
    found = campaign(svc, campaign_id)
    assert found.status == CampaignStatus.ENDED.value and found.summary_sent


def test_the_page_shows_counts_and_a_calls_per_hour_chart(signed_in, svc, client):
    """DONE reports show up on the page as counts and as a bar in the hour's SVG chart; no number of
    a member appears anywhere on it."""
    add_member(svc, ANA)
    campaign_id = make_campaign(svc)
    Phone(client, ANA).reply_to("DONE talked")
    page = signed_in.get(f"/campaigns/{campaign_id}").data.decode()
    assert '<b id="f-done-talked">1</b>' in page
    assert "<svg" in page and re.search(r"<title>\d\d:00: 1 call</title>", page)
    assert ANA not in page and "0141" not in page
