"""What the campaign tests share: a running campaign, members, and the bridged call's webhooks
posted exactly as Twilio posts them, signed."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from rapidresponse.broadcasts import service as broadcasts
from rapidresponse.broadcasts.service import Audience
from rapidresponse.campaigns import service as campaigns
from rapidresponse.campaigns.models import Campaign, CampaignCall
from rapidresponse.messaging.models import OutboundMessage, Purpose
from tests.conftest import ACCOUNT_SID, FROM_NUMBER, signed_post

WARDEN, SHERIFF = "+13125550170", "+13125550171"
SCRIPT_EN = "Hello, I am calling about the people held in solitary at Elm County.\nPlease end it today."
SCRIPT_ES = "Hola, llamo por las personas en aislamiento en Elm County.\nPor favor terminen hoy."


def make_campaign(svc, *, targets: str = f"Warden's office, {WARDEN}", opens: timedelta = timedelta(hours=-1),
                  closes: timedelta = timedelta(hours=3), start: bool = True, ask: bool = True, join: bool = True,
                  audience: Audience | None = None, key: str | None = None) -> int:
    """A campaign whose window is open now (unless told otherwise), started and its ask planned."""
    now = datetime.now(UTC)
    draft = campaigns.make_draft(
        title="End solitary at Elm County", targets=targets, scripts={"en": SCRIPT_EN, "es": SCRIPT_ES},
        window_start=now + opens, window_end=now + closes, audience=audience or Audience(), ask_audience=ask,
        join_by_keyword=join, region="US", now=now + opens - timedelta(minutes=1))
    with svc.db.session() as session:
        campaign_id, _ = campaigns.create(session, svc.cipher, draft, key=key or uuid.uuid4().hex, coordinator_id=None,
                                          now=now)
    if start:
        with svc.db.session() as session:
            started = campaigns.start(session, svc.cipher, campaign_id, None, now)
        if started.broadcast_id is not None:
            while True:
                with svc.db.session() as session:
                    step = broadcasts.plan_chunk(session, svc.cipher, svc.trees, started.broadcast_id, now)
                if step.finished or step.stopped:
                    break
    return campaign_id


def campaign(svc, campaign_id: int) -> Campaign:
    with svc.db.session() as session:
        found = session.get(Campaign, campaign_id)
        session.expunge(found)
        return found


@dataclass(frozen=True)
class MemberCall:
    """Our call to a member (its outbound row and the CallSid Twilio gave it)."""

    message_id: int
    sid: str
    phone: str


def member_call(svc, phone: str) -> MemberCall:
    """The newest campaign call to `phone`."""
    with svc.db.session() as session:
        rows = session.scalars(select(OutboundMessage).where(
            OutboundMessage.purpose == Purpose.CAMPAIGN_CALL.value,
            OutboundMessage.to_index == svc.cipher.blind_index(phone)).order_by(OutboundMessage.id.desc())).all()
        assert rows, f"no campaign call to {phone}"
        return MemberCall(rows[0].id, "CA" + uuid.uuid4().hex, phone)


def call_row(svc, message_id: int) -> CampaignCall:
    with svc.db.session() as session:
        found = session.scalar(select(CampaignCall).where(CampaignCall.message_id == message_id))
        session.expunge(found)
        return found


def texts_to(svc, phone: str, purpose: Purpose = Purpose.CAMPAIGN) -> list[str]:
    with svc.db.session() as session:
        return [svc.cipher.decrypt(m.body_token) for m in session.scalars(select(OutboundMessage).where(
            OutboundMessage.purpose == purpose.value, OutboundMessage.to_index == svc.cipher.blind_index(phone))
            .order_by(OutboundMessage.id))]


def _params(call: MemberCall, **extra: str) -> dict[str, str]:
    params = {"CallSid": call.sid, "AccountSid": ACCOUNT_SID, "From": FROM_NUMBER, "To": call.phone,
              "CallStatus": "in-progress", "Direction": "outbound-api", "ApiVersion": "2010-04-01"}
    params.update(extra)
    return params


def bridge(client, call: MemberCall, **kwargs: Any) -> Any:
    """The call's <Redirect> (or a hold's) to the bridge webhook."""
    return signed_post(client, "/twilio/voice/campaign", _params(call), query=f"m={call.message_id}", **kwargs)


def dial_ended(client, call: MemberCall, status: str, seconds: int = 0, **kwargs: Any) -> Any:
    """The <Dial>'s action: how the bridged leg ended."""
    extra = {"DialCallStatus": status, "DialCallSid": "CA" + uuid.uuid4().hex}
    if status == "completed":
        extra["DialCallDuration"] = str(seconds)
    return signed_post(client, "/twilio/voice/campaign/after", _params(call, **extra), query=f"m={call.message_id}",
                       **kwargs)


def leg_status(client, call: MemberCall, status: str, seconds: int = 0, sid: str | None = None) -> Any:
    """The bridged leg's own status callback (<Number statusCallback>)."""
    params = {"CallSid": sid or "CA" + uuid.uuid4().hex, "ParentCallSid": call.sid, "AccountSid": ACCOUNT_SID,
              "From": FROM_NUMBER, "To": WARDEN, "CallStatus": status, "Direction": "outbound-dial",
              "ApiVersion": "2010-04-01"}
    if status == "completed":
        params["CallDuration"] = str(seconds)
    return signed_post(client, "/twilio/voice/campaign/leg", params, query=f"m={call.message_id}")
