"""Call-in campaigns: making one, starting it (the ask goes out as a broadcast, once per member),
members joining by keyword, ending it, and what its page shows.

Plain functions over a Session (no Flask, no RQ), taking `now`: the console, the inbound
conversation, the voice webhook and the sweep call them. Calls themselves are in calls.py.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from rapidresponse import audit
from rapidresponse.broadcasts import service as broadcasts
from rapidresponse.broadcasts.service import Audience
from rapidresponse.campaigns.models import Campaign, CampaignHour, CampaignStatus, CampaignTarget
from rapidresponse.i18n import LANGUAGES, render
from rapidresponse.i18n.catalog import DEFAULT_LANGUAGE
from rapidresponse.members.models import Member
from rapidresponse.members.phones import InvalidNumberError, normalize_phone
from rapidresponse.messaging import outbox
from rapidresponse.messaging.models import OutboundMessage, Purpose
from rapidresponse.privacy.crypto import FieldCipher

TITLE_MAX = 120
SCRIPT_MAX = 1000
TARGET_NAME_MAX = 80
MAX_TARGETS = 20
LONGEST_WINDOW = timedelta(days=14)


class CampaignError(ValueError):
    """A campaign cannot be made or changed as asked; the message says why, to the coordinator."""


@dataclass(frozen=True)
class Target:
    name: str
    number: str  # E.164


@dataclass(frozen=True)
class CampaignDraft:
    title: str
    targets: tuple[Target, ...]
    scripts: Mapping[str, str]  # language -> script ("" for a language that reads the English one)
    window_start: datetime
    window_end: datetime
    audience: Audience
    ask_audience: bool  # text the ask to the audience when it starts
    join_by_keyword: bool  # members may text ACTION / ACCION to be asked


def parse_targets(raw: str, region: str) -> tuple[Target, ...]:
    """'Warden Ruiz, (555) 010-2000' per line -> Targets; CampaignError names the line that is wrong."""
    targets = []
    for n, line in enumerate(raw.replace("\r", "\n").split("\n"), start=1):
        line = line.strip()
        if not line:
            continue
        name, sep, number = line.rpartition(",")
        if not sep or not name.strip():
            raise CampaignError(f"Target line {n}: write the name, a comma, then the number "
                                f"(e.g. \"Warden's office, +1 555 010 2000\").")
        name = " ".join(name.split())
        if len(name) > TARGET_NAME_MAX:
            raise CampaignError(f"Target line {n}: a name is at most {TARGET_NAME_MAX} characters.")
        try:
            targets.append(Target(name, normalize_phone(number, region)))
        except InvalidNumberError as exc:
            raise CampaignError(f"Target line {n}: {number.strip()!r} is not a phone number ({exc}).") from None
    if not targets:
        raise CampaignError("Add at least one target: a name, a comma, then the number.")
    if len(targets) > MAX_TARGETS:
        raise CampaignError(f"At most {MAX_TARGETS} targets in one campaign.")
    if len({t.number for t in targets}) != len(targets):
        raise CampaignError("The same number is listed twice.")
    return tuple(targets)


def make_draft(*, title: str, targets: str, scripts: Mapping[str, str | None], window_start: datetime | None,
               window_end: datetime | None, audience: Audience, ask_audience: bool, join_by_keyword: bool,
               region: str, now: datetime) -> CampaignDraft:
    """A CampaignDraft from a form's values, or CampaignError saying what to fix."""
    title = " ".join((title or "").split())
    if not title:
        raise CampaignError("Give the campaign a title, e.g. \"Stop the transfers at Elm County\".")
    if len(title) > TITLE_MAX:
        raise CampaignError(f"A title is at most {TITLE_MAX} characters.")
    cleaned: dict[str, str] = {}
    for language in LANGUAGES:
        text = (scripts.get(language) or "").replace("\r\n", "\n").replace("\r", "\n").strip()
        if len(text) > SCRIPT_MAX:
            raise CampaignError(f"The {language} script is {len(text)} characters; at most {SCRIPT_MAX}.")
        cleaned[language] = text
    if not cleaned[DEFAULT_LANGUAGE]:
        raise CampaignError("Write the English script: every language without its own script receives it.")
    if window_start is None or window_end is None:
        raise CampaignError("Give the time window: when calls open and when they close.")
    if window_end <= window_start:
        raise CampaignError("The window must close after it opens.")
    if window_end <= now:
        raise CampaignError("The window has already closed: pick a closing time in the future.")
    if window_end - window_start > LONGEST_WINDOW:
        raise CampaignError("A campaign's window is at most 14 days.")
    if not (ask_audience or join_by_keyword):
        raise CampaignError("Choose who is asked: text the audience, let members join with ACTION / ACCION, "
                            "or both.")
    draft = CampaignDraft(title, parse_targets(targets, region), cleaned, window_start, window_end, audience,
                          ask_audience, join_by_keyword)
    for language in LANGUAGES:
        size = len(ask_text(title, draft.targets, script_for(cleaned, language), language))
        if size > broadcasts.MAX_TEXT:
            raise CampaignError(f"The {language} ask (title, targets and script together) would be {size} characters; "
                                f"one text carries at most {broadcasts.MAX_TEXT}. Shorten the script or list "
                                f"fewer targets.")
    return draft


def script_for(scripts: Mapping[str, str], language: str) -> str:
    return scripts.get(language) or scripts[DEFAULT_LANGUAGE]


def first_line(script: str) -> str:
    """What the call reads before the bridge: the script's first line (or sentence, if one line)."""
    line = next((part.strip() for part in script.split("\n") if part.strip()), "")
    return line


def ask_text(title: str, targets: Sequence[Target], script: str, language: str) -> str:
    """The ask as a member reads it: title, who to call, the script, and the two ways to call."""
    listed = "; ".join(f"{t.name} {t.number}" for t in targets)
    return render("campaign.ask", language, title=title, targets=listed, script=script)


# --- recording, starting, ending -----------------------------------------------------------------

def by_key(session: Session, key: str) -> int | None:
    return session.scalar(select(Campaign.id).where(Campaign.idempotency_key == key))


def by_id(session: Session, campaign_id: int) -> Campaign | None:
    return session.get(Campaign, campaign_id)


def create(session: Session, cipher: FieldCipher, draft: CampaignDraft, *, key: str, coordinator_id: int | None,
           now: datetime) -> tuple[int, bool]:
    """Record the campaign (a draft: nobody is asked until it starts), once per form. Returns
    (id, new); a second press of the same form returns the first one's id."""
    existing = by_key(session, key)
    if existing is not None:
        return existing, False
    campaign = Campaign(
        idempotency_key=key, status=CampaignStatus.DRAFT.value, title_token=cipher.encrypt(draft.title),
        scripts_token=cipher.encrypt(json.dumps(dict(draft.scripts), sort_keys=True)),
        audience_token=cipher.encrypt(json.dumps({"audience": draft.audience.to_json(),
                                                  "ask": draft.ask_audience})),
        join_by_keyword=draft.join_by_keyword, window_start=draft.window_start, window_end=draft.window_end,
        created_by=coordinator_id, created_at=now)
    for position, target in enumerate(draft.targets):
        campaign.targets.append(CampaignTarget(position=position, name_token=cipher.encrypt(target.name),
                                               number_token=cipher.encrypt(target.number)))
    session.add(campaign)
    session.flush()
    audit.record(session, coordinator_id, audit.AuditAction.CAMPAIGN, now, target=audit.Target.CAMPAIGN,
                 target_id=campaign.id)
    return campaign.id, True


@dataclass(frozen=True)
class Plain:
    """A campaign decrypted for one request."""

    campaign: Campaign
    title: str
    scripts: dict[str, str]
    audience: Audience
    ask_audience: bool
    targets: list[tuple[int, Target]]  # (target id, name and number)

    def ask(self, language: str) -> str:
        return ask_text(self.title, [t for _, t in self.targets], script_for(self.scripts, language), language)


def plain(cipher: FieldCipher, campaign: Campaign) -> Plain:
    who = json.loads(cipher.decrypt(campaign.audience_token))
    return Plain(campaign, cipher.decrypt(campaign.title_token), json.loads(cipher.decrypt(campaign.scripts_token)),
                 Audience.from_json(who["audience"]), bool(who["ask"]),
                 [(t.id, Target(cipher.decrypt(t.name_token), cipher.decrypt(t.number_token)))
                  for t in campaign.targets])


@dataclass(frozen=True)
class Started:
    changed: bool
    broadcast_id: int | None = None  # the ask, to plan after the commit (None: keyword only)


def start(session: Session, cipher: FieldCipher, campaign_id: int, coordinator_id: int | None,
          now: datetime) -> Started:
    """Start a draft: the ask goes to the audience as a broadcast keyed on the campaign, so a second
    press, or two coordinators at once, send it once. Refused once the window has closed."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None or campaign.status != CampaignStatus.DRAFT.value:
        return Started(False)
    if campaign.window_end <= now:
        raise CampaignError("Its window has closed; make a new campaign with a window still to come.")
    moved = session.execute(update(Campaign).where(
        Campaign.id == campaign_id, Campaign.status == CampaignStatus.DRAFT.value,
    ).values(status=CampaignStatus.RUNNING.value, started_at=now))
    if getattr(moved, "rowcount", 0) != 1:
        return Started(False)
    shown = plain(cipher, campaign)
    broadcast_id = None
    if shown.ask_audience:
        draft = broadcasts.Draft({lang: shown.ask(lang) for lang in LANGUAGES}, shown.audience)
        created = broadcasts.create(session, cipher, draft, key=f"campaign:{campaign_id}",
                                    coordinator_id=coordinator_id, now=now, allow_duplicate=True)
        broadcast_id = created.broadcast_id
        session.execute(update(Campaign).where(Campaign.id == campaign_id).values(broadcast_id=broadcast_id))
    audit.record(session, coordinator_id, audit.AuditAction.CAMPAIGN_START, now, target=audit.Target.CAMPAIGN,
                 target_id=campaign_id)
    return Started(True, broadcast_id)


def end(session: Session, campaign_id: int, coordinator_id: int | None, now: datetime) -> bool:
    """End a running (or never started) campaign: CALL gets "none running" from now on. Ended by
    the sweep at its window's end, or by a coordinator (audited)."""
    moved = session.execute(update(Campaign).where(
        Campaign.id == campaign_id,
        Campaign.status.in_([CampaignStatus.DRAFT.value, CampaignStatus.RUNNING.value]),
    ).values(status=CampaignStatus.ENDED.value, ended_at=now))
    if getattr(moved, "rowcount", 0) != 1:
        return False
    if coordinator_id is not None:
        audit.record(session, coordinator_id, audit.AuditAction.CAMPAIGN_END, now, target=audit.Target.CAMPAIGN,
                     target_id=campaign_id)
    return True


def due_to_end(session: Session, now: datetime) -> list[int]:
    """Running campaigns whose window has closed (the sweep ends them)."""
    return list(session.scalars(select(Campaign.id).where(
        Campaign.status == CampaignStatus.RUNNING.value, Campaign.window_end <= now)).all())


# --- members: which campaign, joining by keyword ------------------------------------------------

def ask_key(campaign: Campaign, member_id: int) -> list[str]:
    """The dedupe keys an ask to this member carries: the broadcast's, and a join's."""
    keys = [f"campaign:{campaign.id}:ask:{member_id}"]
    if campaign.broadcast_id is not None:
        keys.append(f"broadcast:{campaign.broadcast_id}:{member_id}")
    return keys


def asked(session: Session, campaign: Campaign, member_id: int) -> bool:
    return bool(session.scalar(select(exists().where(OutboundMessage.dedupe_key.in_(ask_key(campaign, member_id))))))


def running(session: Session) -> list[Campaign]:
    """Running campaigns, newest first."""
    return list(session.scalars(select(Campaign).where(Campaign.status == CampaignStatus.RUNNING.value)
                                .order_by(Campaign.started_at.desc(), Campaign.id.desc())).all())


def for_member(session: Session, member_id: int, *, joinable: bool = False) -> Campaign | None:
    """The campaign a member's CALL / DONE / ACTION is about: the newest running one they were asked
    in, else the newest running one (a member told by a friend calls too). `joinable`: only those
    that take ACTION / ACCION."""
    found = [c for c in running(session) if c.join_by_keyword or not joinable]
    for campaign in found:
        if asked(session, campaign, member_id):
            return campaign
    return found[0] if found else None


@dataclass
class Joined:
    campaign_id: int | None = None
    send_ids: list[int] = field(default_factory=list)  # the ask, to send after the commit
    already: bool = False


def join(session: Session, cipher: FieldCipher, member: Member, now: datetime) -> Joined:
    """ACTION / ACCION: text this member the ask, once (a member the broadcast reached already has it)."""
    campaign = for_member(session, member.id, joinable=True)
    if campaign is None:
        return Joined()
    if asked(session, campaign, member.id):
        return Joined(campaign.id, already=True)
    shown = plain(cipher, campaign)
    language = broadcasts.text_language(member.language)
    assert member.phone_token is not None
    ids = outbox.record(session, cipher, [outbox.Text(
        to=outbox.SealedNumber(member.phone_index, member.phone_token), body=shown.ask(language),
        purpose=Purpose.CAMPAIGN, dedupe_key=f"campaign:{campaign.id}:ask:{member.id}", member_id=member.id)], now)
    if ids:
        session.execute(update(Campaign).where(Campaign.id == campaign.id).values(joined=Campaign.joined + 1))
    return Joined(campaign.id, ids)


# --- the record: counts only ---------------------------------------------------------------------

def hour_of(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


def count_hour(session: Session, campaign_id: int, at: datetime) -> None:
    """One more call in `at`'s hour (the chart), created on first use."""
    hour = hour_of(at)
    outbox.insert_ignoring_duplicates(session, CampaignHour, [{"campaign_id": campaign_id, "hour": hour, "calls": 0}])
    session.execute(update(CampaignHour).where(CampaignHour.campaign_id == campaign_id, CampaignHour.hour == hour)
                    .values(calls=CampaignHour.calls + 1))


@dataclass(frozen=True)
class Row:
    id: int
    title: str
    status: str
    window_start: datetime
    window_end: datetime
    calls_bridged: int


def recent(session: Session, cipher: FieldCipher, limit: int = 50) -> list[Row]:
    return [Row(c.id, cipher.decrypt(c.title_token), c.status, c.window_start, c.window_end, c.calls_bridged)
            for c in session.scalars(select(Campaign).order_by(Campaign.id.desc()).limit(limit))]


def summarise(session: Session, cipher: FieldCipher, campaign_id: int, now: datetime) -> list[int]:
    """The ended campaign's figures, texted once to every coordinator in their language. Returns
    the texts to send (none when already summarised, or it has not ended)."""
    from rapidresponse.campaigns.figures import figures_of
    from rapidresponse.incidents.service import coordinators

    claimed = session.execute(update(Campaign).where(
        Campaign.id == campaign_id, Campaign.status == CampaignStatus.ENDED.value, Campaign.summary_sent.is_(False),
    ).values(summary_sent=True))
    if getattr(claimed, "rowcount", 0) != 1:
        return []
    campaign = session.get(Campaign, campaign_id)
    assert campaign is not None
    counted = figures_of(session, campaign)
    title = cipher.decrypt(campaign.title_token)
    texts = [outbox.Text(
        to=outbox.SealedNumber(m.phone_index, m.phone_token),
        body=render("campaign.summary", m.language, title=title, asked=counted.asks_sent,
                    bridged=counted.calls_bridged, minutes=counted.minutes, done=counted.done_total,
                    talked=counted.done["talked"], voicemail=counted.done["voicemail"],
                    hung_up=counted.done["hung_up"]),
        purpose=Purpose.CAMPAIGN, dedupe_key=f"campaign:{campaign_id}:summary:{m.id}", member_id=m.id)
        for m in coordinators(session, cipher)]
    return outbox.record(session, cipher, texts, now)


def unsummarised(session: Session) -> list[int]:
    return list(session.scalars(select(Campaign.id).where(
        Campaign.status == CampaignStatus.ENDED.value, Campaign.summary_sent.is_(False))).all())
