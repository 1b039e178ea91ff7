"""Call-in campaigns end to end: real workers, the fake Twilio playing every call and bridge as
Twilio would (the bridged leg's status callbacks, the Dial's action). The ask goes out once per
member; CALL connects a member to the target from our number, and one text follows; a busy target
and a member who hangs up before the bridge each end as they should; the bridged legs are deleted at
Twilio."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from rapidresponse.broadcasts.service import Audience
from rapidresponse.campaigns import service as campaigns
from rapidresponse.campaigns.models import CallState, Campaign, CampaignCall
from rapidresponse.jobs import broadcasts as broadcast_jobs
from tests.conftest import FROM_NUMBER
from tests.e2e.harness import Stack, wait_until
from tests.web.campaign_helpers import WARDEN, make_campaign

ANA, BEN, CRUZ = "+12125550361", "+12125550362", "+12125550363"


def counts(stack: Stack, campaign_id: int) -> Campaign:
    with stack.svc.db.session() as session:
        found = session.get(Campaign, campaign_id)
        assert found is not None
        session.expunge(found)
        return found


def calls_over(stack: Stack) -> bool:
    from sqlalchemy import func, select

    with stack.svc.db.session() as session:
        return not session.scalar(select(func.count()).select_from(CampaignCall).where(
            CampaignCall.state != CallState.ENDED.value))


def test_a_campaign_asks_once_bridges_from_our_number_and_counts(tmp_path: Path):
    """Start: each member gets the ask once. Ana texts CALL: she is called, hears the first line,
    is bridged to the warden from the network's number for 95 s, and gets one thanks text with the
    count. Ben's bridge finds the line busy: one "try again" text. Cruz hangs up before the bridge:
    no bridge, no text, and no line held."""
    stack = Stack(tmp_path, play_calls=True)
    try:
        for phone in (ANA, BEN, CRUZ):
            stack.member(phone)
        stack.fake.configure(dial_talk_seconds=95)
        campaign_id = make_campaign(stack.svc, start=False, audience=Audience())
        with stack.svc.db.session() as session:
            started = campaigns.start(session, stack.svc.cipher, campaign_id, None, datetime.now(UTC))
        assert started.broadcast_id is not None
        stack.start_worker()
        broadcast_jobs.start(stack.svc, started.broadcast_id)
        for phone in (ANA, BEN, CRUZ):
            wait_until(lambda phone=phone: stack.received(phone))
        stack.text(ANA, "CALL")
        wait_until(lambda: any("so far" in t for t in stack.received(ANA)))
        stack.fake.script_call(WARDEN, fate="busy")
        stack.text(BEN, "CALL")
        wait_until(lambda: any("busy" in t for t in stack.received(BEN)))
        stack.fake.script_call(CRUZ, fate="hangs-up")
        stack.text(CRUZ, "CALL")
        wait_until(lambda: [c["status"] for c in stack.fake.calls_to(CRUZ)] == ["completed"])
        wait_until(lambda: calls_over(stack))
        stack.fake.wait_for_calls()
        found = counts(stack, campaign_id)
        assert (found.calls_bridged, found.bridged_seconds, found.calls_busy) == (1, 95, 1)
        for phone in (ANA, BEN, CRUZ):
            [ask] = [t for t in stack.received(phone) if t.startswith("CALL-IN")]
            assert "Reply CALL" in ask
        [thanks] = [t for t in stack.received(ANA) if "so far" in t]
        assert "1 calls so far" in thanks
        legs = stack.fake.calls_to(WARDEN)
        assert len(legs) == 2 and all(leg["from_"] == FROM_NUMBER for leg in legs)
        member_numbers = {ANA, BEN, CRUZ}
        assert not any(leg["from_"] in member_numbers for leg in stack.fake.calls)
        assert [t for t in stack.received(CRUZ) if not t.startswith("CALL-IN") and "Calling you" not in t] == []

    finally:
        stack.close()


def test_a_bridged_leg_is_deleted_at_twilio(tmp_path: Path):
    """Once the bridge is over, its leg (our number to the warden: when, how long) is deleted at
    Twilio like every other call, and our row forgets its SID."""
    stack = Stack(tmp_path, play_calls=True, PROVIDER_DELETE_DELAY_SECONDS="0")
    try:
        stack.member(ANA)
        make_campaign(stack.svc, ask=False, join=True)
        stack.start_worker()
        stack.text(ANA, "CALL")
        wait_until(lambda: stack.fake.calls_to(WARDEN))
        [leg] = stack.fake.calls_to(WARDEN)
        wait_until(lambda: leg["sid"] in {d["sid"] for d in stack.fake.call_deletes if d["status"] == 204})
        from sqlalchemy import select

        def dial_sids() -> list[str | None]:
            with stack.svc.db.session() as session:
                return list(session.scalars(select(CampaignCall.dial_sid)))

        # The worker forgets the SID once Twilio has answered the delete: a moment after the fake saw it.
        wait_until(lambda: dial_sids() == [None])
    finally:
        stack.close()
