"""A member's call to a campaign's target, bridged so the target never sees the member's number.

CALL / LLAMAR records one outbound call to the member (a voice row of the outbox, purpose
`campaign_call`: the sender places it like an alert call, at the call rate limit) and a
CampaignCall. The call speaks the script's first line, then asks us (the bridge webhook) where to
connect: `bridge` holds a slot on the target with the fewest calls that has one free (at most
CAMPAIGN_CALLS_PER_TARGET bridged at once per target), or keeps the member on hold. The `<Dial>`'s
action and its leg's status callbacks both end the bridge through `bridge_over` (the first wins):
counts go onto the campaign, the member gets one text, and the member link is dropped.

Plain functions over a Session taking `now`; the slot claim is serialised per campaign by a
row lock (an UPDATE of the campaign row), so two webhooks at once never both take the last slot.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from rapidresponse.broadcasts.service import text_language
from rapidresponse.campaigns.models import CallState, Campaign, CampaignCall, CampaignStatus, CampaignTarget, Outcome
from rapidresponse.campaigns.service import Target, count_hour, first_line, for_member, plain, script_for
from rapidresponse.i18n import render
from rapidresponse.members.models import Member
from rapidresponse.messaging import outbox
from rapidresponse.messaging.models import Channel, OutboundMessage, Purpose
from rapidresponse.privacy.crypto import FieldCipher

# How long one hold lasts before we look for a free line again, and how many holds before we
# give up (the member is told to text CALL later): 9 x 20 s = 3 minutes on hold at most.
HOLD_SECONDS = 20
MAX_HOLDS = 9
# The Dial's time to ring the target before it counts as no answer.
DIAL_TIMEOUT = 30
# A call not over by then is over: its callbacks were lost (the sweep ends it, freeing its slot).
CALLING_GIVE_UP = timedelta(minutes=10)


@dataclass(frozen=True)
class Pacing:
    per_target: int  # at most this many bridged calls to one target at once
    max_minutes: int  # a bridged call's time limit (the Dial's timeLimit)


def reply_count(campaign: Campaign) -> int:
    """'How many have called so far': bridged calls and DONE reports."""
    return (campaign.calls_bridged + campaign.done_talked + campaign.done_voicemail + campaign.done_hung_up
            + campaign.done_unsaid)


# --- CALL / LLAMAR ------------------------------------------------------------------------------

@dataclass
class Asked:
    key: str  # the reply's catalog key
    params: dict[str, object] = field(default_factory=dict)
    send_ids: list[int] = field(default_factory=list)  # our call to the member, to place after the commit


def window_problem(campaign: Campaign | None, now: datetime) -> Asked | None:
    if campaign is None:
        return Asked("campaign.none")
    if now < campaign.window_start:
        return Asked("campaign.not_yet", {"opens": campaign.window_start.strftime("%H:%M on %d %b")})
    if now >= campaign.window_end:
        return Asked("campaign.closed")
    return None


def request_call(session: Session, cipher: FieldCipher, member: Member, now: datetime) -> Asked:
    """A member asked to be connected: record our call to them, once per live request."""
    campaign = for_member(session, member.id)
    problem = window_problem(campaign, now)
    if problem is not None:
        return problem
    assert campaign is not None and member.phone_token is not None
    live = session.scalar(select(func.count()).select_from(CampaignCall).where(
        CampaignCall.campaign_id == campaign.id, CampaignCall.member_id == member.id,
        CampaignCall.state != CallState.ENDED.value))
    if live:
        return Asked("campaign.already_calling")
    # The n-th call of this member to this campaign: two CALL texts at once share the key (one call).
    made = session.scalar(select(func.count()).select_from(OutboundMessage).where(
        OutboundMessage.dedupe_key.like(f"campaign:{campaign.id}:call:{member.id}:%"))) or 0
    language = text_language(member.language)
    script = script_for(plain(cipher, campaign).scripts, language)
    key = f"campaign:{campaign.id}:call:{member.id}:{made + 1}"
    ids = outbox.record(session, cipher, [outbox.Text(
        to=outbox.SealedNumber(member.phone_index, member.phone_token),
        body=render("campaign_voice.intro", language, line=first_line(script)), purpose=Purpose.CAMPAIGN_CALL,
        dedupe_key=key, member_id=member.id, channel=Channel.VOICE)], now)
    message_id = session.scalar(select(OutboundMessage.id).where(OutboundMessage.dedupe_key == key))
    assert message_id is not None
    outbox.insert_ignoring_duplicates(session, CampaignCall, [{
        "campaign_id": campaign.id, "message_id": message_id, "member_id": member.id,
        "state": CallState.CALLING.value, "holds": 0, "created_at": now, "delete_attempts": 0}])
    return Asked("campaign.calling", send_ids=ids)


# --- DONE / HECHO -------------------------------------------------------------------------------

DONE_COLUMNS = {
    Outcome.TALKED.value: Campaign.done_talked, Outcome.VOICEMAIL.value: Campaign.done_voicemail,
    Outcome.HUNG_UP.value: Campaign.done_hung_up, Outcome.UNSAID.value: Campaign.done_unsaid,
}


def report_done(session: Session, member: Member, outcome: str, now: datetime) -> Asked:
    """A member who dialled the target themselves says so (and maybe how it went): a count, no more."""
    campaign = for_member(session, member.id)
    if campaign is None:
        return Asked("campaign.none")
    column = DONE_COLUMNS.get(outcome or Outcome.UNSAID.value, Campaign.done_unsaid)
    session.execute(update(Campaign).where(Campaign.id == campaign.id).values({column: column + 1}))
    count_hour(session, campaign.id, now)
    session.refresh(campaign)
    return Asked("campaign.done_thanks" if outcome else "campaign.done_hint", {"count": reply_count(campaign)})


# --- the bridge (webhooks/campaign_calls.py) ----------------------------------------------------

@dataclass(frozen=True)
class Bridge:
    """What the member's call does next: connect to `target` (its number), hold, or say and hang up."""

    language: str
    target: Target | None = None
    hold: bool = False  # say "please hold" (first hold only), wait, then ask again
    first_hold: bool = False
    say: str | None = None  # a catalog key to say before hanging up


def _call_of(session: Session, message_id: int) -> CampaignCall | None:
    return session.scalar(select(CampaignCall).where(CampaignCall.message_id == message_id))


def _language(session: Session, call: CampaignCall) -> str:
    member = session.get(Member, call.member_id) if call.member_id is not None else None
    return text_language(member.language if member is not None else "en")


def _end(session: Session, call: CampaignCall, now: datetime, outcome: str | None = None) -> bool:
    """CALLING/HOLDING/BRIDGING -> ENDED once; the member link goes with it."""
    moved = session.execute(update(CampaignCall).where(
        CampaignCall.id == call.id, CampaignCall.state != CallState.ENDED.value,
    ).values(state=CallState.ENDED.value, ended_at=now, outcome=outcome, member_id=None))
    return getattr(moved, "rowcount", 0) == 1


def bridge(session: Session, cipher: FieldCipher, message_id: int, now: datetime, pacing: Pacing) -> Bridge:
    """The member is on the line (the call's `<Redirect>`, or a hold's end): where to now."""
    call = _call_of(session, message_id)
    if call is None or call.state == CallState.ENDED.value:
        return Bridge("en", say="campaign_voice.closed")
    language = _language(session, call)
    # The campaign row is the lock: slot claims for one campaign run one at a time.
    session.execute(update(Campaign).where(Campaign.id == call.campaign_id).values(calls_busy=Campaign.calls_busy))
    campaign = session.get(Campaign, call.campaign_id)
    assert campaign is not None
    shown = plain(cipher, campaign)
    if call.state == CallState.BRIDGING.value and call.target_id is not None:
        # A retried webhook: the same target again (its slot is already held).
        return Bridge(language, target=dict(shown.targets)[call.target_id])
    if campaign.status != CampaignStatus.RUNNING.value or window_problem(campaign, now) is not None:
        _end(session, call, now)
        return Bridge(language, say="campaign_voice.closed")
    busy = dict(session.execute(select(CampaignCall.target_id, func.count()).where(
        CampaignCall.campaign_id == campaign.id, CampaignCall.state == CallState.BRIDGING.value,
        CampaignCall.bridged_at > now - timedelta(minutes=pacing.max_minutes + 2),
    ).group_by(CampaignCall.target_id)).all())
    free = [t for t in campaign.targets if busy.get(t.id, 0) < pacing.per_target]
    if not free:
        holds = call.holds
        if holds >= MAX_HOLDS:
            _end(session, call, now)
            return Bridge(language, say="campaign_voice.gave_up")
        session.execute(update(CampaignCall).where(CampaignCall.id == call.id).values(
            state=CallState.HOLDING.value, holds=CampaignCall.holds + 1))
        return Bridge(language, hold=True, first_hold=holds == 0)
    # Spread the calls: the free target with the fewest so far (bridged now, then ever).
    chosen = min(free, key=lambda t: (busy.get(t.id, 0), t.calls_bridged, t.position))
    session.execute(update(CampaignCall).where(CampaignCall.id == call.id).values(
        state=CallState.BRIDGING.value, target_id=chosen.id, bridged_at=now))
    return Bridge(language, target=dict(shown.targets)[chosen.id])


@dataclass
class Over:
    language: str
    say: str  # what the member hears last (ignored by the provider if they already hung up)
    send_ids: list[int] = field(default_factory=list)


BUSY_STATUSES = frozenset({"busy", "no-answer", "failed"})


def bridge_over(session: Session, cipher: FieldCipher, message_id: int, dial_status: str, seconds: int,
                dial_sid: str | None, now: datetime, delete_delay: timedelta) -> Over:
    """The bridge ended (the Dial's action, or the bridged leg's final status callback: the first
    wins). Counts it, texts the member once, forgets who it was."""
    call = _call_of(session, message_id)
    if call is None:
        return Over("en", "campaign_voice.thanks")
    language = _language(session, call)
    member_id, target_id, campaign_id = call.member_id, call.target_id, call.campaign_id
    if dial_sid and call.dial_sid is None:
        session.execute(update(CampaignCall).where(CampaignCall.id == call.id, CampaignCall.dial_sid.is_(None))
                        .values(dial_sid=dial_sid, delete_after=now + delete_delay))
    talked = dial_status == "completed" and seconds > 0
    outcome = Outcome.TALKED.value if talked else Outcome.BUSY.value if dial_status in BUSY_STATUSES else None
    if call.state != CallState.BRIDGING.value or not _end(session, call, now, outcome):
        return Over(language, "campaign_voice.busy" if outcome == Outcome.BUSY.value else "campaign_voice.thanks")
    if talked:
        session.execute(update(Campaign).where(Campaign.id == campaign_id).values(
            calls_bridged=Campaign.calls_bridged + 1, bridged_seconds=Campaign.bridged_seconds + seconds))
        session.execute(update(CampaignTarget).where(CampaignTarget.id == target_id).values(
            calls_bridged=CampaignTarget.calls_bridged + 1))
        session.execute(update(CampaignCall).where(CampaignCall.id == call.id).values(seconds=seconds))
        count_hour(session, campaign_id, now)
    elif outcome == Outcome.BUSY.value:
        session.execute(update(Campaign).where(Campaign.id == campaign_id).values(calls_busy=Campaign.calls_busy + 1))
    member = session.get(Member, member_id) if member_id is not None else None
    ids: list[int] = []
    if outcome is not None and member is not None and member.phone_token is not None and member.is_active:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        session.refresh(campaign)
        body = render("campaign.bridged_thanks", language, count=reply_count(campaign)) if talked \
            else render("campaign.busy_text", language)
        ids = outbox.record(session, cipher, [outbox.Text(
            to=outbox.SealedNumber(member.phone_index, member.phone_token), body=body, purpose=Purpose.CAMPAIGN,
            dedupe_key=f"campaign:{campaign_id}:after:{message_id}", member_id=member.id)], now)
    return Over(language, "campaign_voice.thanks" if talked or outcome is None else "campaign_voice.busy", ids)


def member_call_over(session: Session, message_id: int, now: datetime) -> None:
    """Our call to the member ended (its final status): one never bridged (no answer, hung up on
    hold or before the bridge) ends here, holding no slot. A bridged one ends by `bridge_over`."""
    call = _call_of(session, message_id)
    if call is not None and call.state in (CallState.CALLING.value, CallState.HOLDING.value):
        _end(session, call, now)


def settle_stale(session: Session, now: datetime, pacing: Pacing) -> int:
    """The sweep's part: calls whose callbacks never came are over (so their slot is free again)."""
    stale = session.execute(update(CampaignCall).where(
        CampaignCall.state != CallState.ENDED.value,
        ((CampaignCall.state == CallState.BRIDGING.value)
         & (CampaignCall.bridged_at <= now - timedelta(minutes=pacing.max_minutes + 2)))
        | ((CampaignCall.state != CallState.BRIDGING.value) & (CampaignCall.created_at <= now - CALLING_GIVE_UP)),
    ).values(state=CallState.ENDED.value, ended_at=now, member_id=None))
    return int(getattr(stale, "rowcount", 0) or 0)
