"""What a campaign's page shows: its figures (counts only) and calls per hour as bars for a
small SVG chart drawn by the template (no script, no image library)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rapidresponse.broadcasts import service as broadcasts
from rapidresponse.campaigns.models import CallState, Campaign, CampaignCall, CampaignHour, CampaignStatus
from rapidresponse.campaigns.service import Plain, plain
from rapidresponse.i18n import LANGUAGES
from rapidresponse.messaging.models import DeliveryStatus, OutboundMessage, Purpose
from rapidresponse.privacy.crypto import FieldCipher

CHART_WIDTH, CHART_HEIGHT, MAX_BARS = 480, 120, 48


@dataclass
class Figures:
    status: str
    asks_sent: int = 0  # the ask handed to the provider (the broadcast's, and joins')
    asks_waiting: int = 0
    joined: int = 0
    calls_bridged: int = 0
    minutes: int = 0
    calls_busy: int = 0
    on_the_line: int = 0  # calls going on now (holding or bridged)
    done: dict[str, int] = field(default_factory=dict)

    @property
    def done_total(self) -> int:
        return sum(self.done.values())

    def as_json(self) -> dict[str, Any]:
        return {"status": self.status, "asks_sent": self.asks_sent, "asks_waiting": self.asks_waiting,
                "joined": self.joined, "calls_bridged": self.calls_bridged, "minutes": self.minutes,
                "calls_busy": self.calls_busy, "on_the_line": self.on_the_line, "done": self.done,
                "done_total": self.done_total}


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    calls: int
    label: str  # '14:00'


@dataclass
class Page:
    shown: Plain
    figures: Figures
    bars: list[Bar]
    asks: dict[str, str]  # language -> the ask as that language receives it
    width: int = CHART_WIDTH
    height: int = CHART_HEIGHT

    @property
    def campaign(self) -> Campaign:
        return self.shown.campaign


def minutes(seconds: int) -> int:
    """Bridged seconds as whole minutes, a started minute counting (as the provider bills)."""
    return -(-seconds // 60)


def figures_of(session: Session, campaign: Campaign) -> Figures:
    found = Figures(campaign.status, joined=campaign.joined, calls_bridged=campaign.calls_bridged,
                    minutes=minutes(campaign.bridged_seconds), calls_busy=campaign.calls_busy,
                    done={"talked": campaign.done_talked, "voicemail": campaign.done_voicemail,
                          "hung_up": campaign.done_hung_up, "unsaid": campaign.done_unsaid})
    if campaign.broadcast_id is not None:
        progress = broadcasts.progress(session, [campaign.broadcast_id]).get(campaign.broadcast_id)
        if progress is not None:
            found.asks_sent += progress.sent
            found.asks_waiting += progress.waiting
    for status, n in session.execute(select(OutboundMessage.status, func.count()).where(
            OutboundMessage.purpose == Purpose.CAMPAIGN.value,
            OutboundMessage.dedupe_key.like(f"campaign:{campaign.id}:ask:%")).group_by(OutboundMessage.status)):
        if status in broadcasts.WAITING:
            found.asks_waiting += n
        elif status in broadcasts.HANDED_OVER or status == DeliveryStatus.FAILED.value:
            found.asks_sent += n
    found.on_the_line = session.scalar(select(func.count()).select_from(CampaignCall).where(
        CampaignCall.campaign_id == campaign.id, CampaignCall.state != CallState.ENDED.value)) or 0
    return found


def bars(session: Session, campaign: Campaign, now: datetime) -> list[Bar]:
    """One bar per hour from the window's opening to now (or its close), at most MAX_BARS (the last)."""
    counted = {hour.replace(tzinfo=None): calls for hour, calls in session.execute(
        select(CampaignHour.hour, CampaignHour.calls).where(CampaignHour.campaign_id == campaign.id))}
    first = campaign.window_start.replace(minute=0, second=0, microsecond=0)
    last_at = min(now, campaign.ended_at or campaign.window_end)
    if campaign.status == CampaignStatus.DRAFT.value or last_at < first:
        return []
    last = last_at.replace(minute=0, second=0, microsecond=0)
    hours = []
    at = first
    while at <= last:
        hours.append(at)
        at += timedelta(hours=1)
    hours = hours[-MAX_BARS:]
    if not hours:
        return []
    peak = max([counted.get(h.replace(tzinfo=None), 0) for h in hours] + [1])
    step = CHART_WIDTH / len(hours)
    result = []
    for i, hour in enumerate(hours):
        calls = counted.get(hour.replace(tzinfo=None), 0)
        height = (CHART_HEIGHT - 16) * calls / peak
        result.append(Bar(round(i * step + 1, 1), round(CHART_HEIGHT - 14 - height, 1), round(max(step - 2, 1), 1),
                          round(height, 1), calls, hour.strftime("%H:00")))
    return result


def page(session: Session, cipher: FieldCipher, campaign_id: int, now: datetime) -> Page | None:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        return None
    shown = plain(cipher, campaign)
    return Page(shown, figures_of(session, campaign), bars(session, campaign, now),
                {lang: shown.ask(lang) for lang in LANGUAGES})
