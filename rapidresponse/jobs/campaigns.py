"""A campaign's jobs: its summary to the coordinators once it ends, and the sweep's part (end the
campaigns whose window has closed). Thin: each opens its own session and calls campaigns/."""

from __future__ import annotations

import logging
from datetime import datetime

from redis.exceptions import RedisError

from rapidresponse.campaigns import calls
from rapidresponse.campaigns import service as campaigns
from rapidresponse.db import utcnow
from rapidresponse.incidents.service import AfterCommit
from rapidresponse.jobs import queues
from rapidresponse.jobs.dispatch import dispatch
from rapidresponse.services import Services, process_services

log = logging.getLogger(__name__)

SUMMARISE = "rapidresponse.jobs.campaigns.summarise_campaign"


def summarise(svc: Services, campaign_id: int) -> None:
    """After the campaign's end is committed (the sweep summarises any it missed)."""
    try:
        queues.enqueue(svc, queues.BULK, SUMMARISE, campaign_id)
    except RedisError as exc:
        log.error("could not queue campaign %s's summary (%s); the sweep will", campaign_id, type(exc).__name__)


def summarise_campaign(campaign_id: int) -> dict[str, int]:
    svc = process_services()
    with svc.db.session() as session:
        ids = campaigns.summarise(session, svc.cipher, campaign_id, utcnow())
    dispatch(svc, AfterCommit(send_ids=ids))
    return {"texts": len(ids)}


def sweep(svc: Services, now: datetime) -> int:
    """End the campaigns whose window has closed, and summarise every ended one not yet summarised.
    Returns how many were ended."""
    with svc.db.session() as session:
        calls.settle_stale(session, now, calls.Pacing(svc.settings.campaign_calls_per_target,
                                                      svc.settings.campaign_call_minutes))
    with svc.db.session() as session:
        due = campaigns.due_to_end(session, now)
        ended = [campaign_id for campaign_id in due if campaigns.end(session, campaign_id, None, now)]
    with svc.db.session() as session:
        unsummarised = campaigns.unsummarised(session)
    for campaign_id in unsummarised:
        with svc.db.session() as session:
            ids = campaigns.summarise(session, svc.cipher, campaign_id, now)
        dispatch(svc, AfterCommit(send_ids=ids))
    return len(ended)
