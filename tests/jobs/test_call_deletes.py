"""Hotline calls deleted at the provider once over, through the Calls resource, and still
recognised by a retried webhook afterwards."""

from __future__ import annotations

from datetime import timedelta

import responses
from sqlalchemy import func, select

from rapidresponse.db import utcnow
from rapidresponse.hotline.models import CallOutcome, InboundCall, forgotten_call_sid
from rapidresponse.hotline.service import CALL_GIVEN_UP
from rapidresponse.jobs.tasks import queue_provider_deletes
from rapidresponse.messaging import deletes
from rapidresponse.services import build_services
from rapidresponse.settings import Settings
from tests.conftest import row
from tests.jobs.test_provider_deletes import CALL_URL, DELAY, NOT_YET, due, run
from tests.web.hotline_phone import HotlineCall

CALLER = "+12125550170"


def deleted_sids(mock: responses.RequestsMock) -> list[str]:
    return [c.request.url.rsplit("/", 1)[-1].removesuffix(".json") for c in mock.calls
            if c.request.method == "DELETE" and "/Calls/" in c.request.url]


def ended_call(client) -> HotlineCall:
    """A caller who rang and hung up at the menu (the number's status callback says completed)."""
    call = HotlineCall(client, CALLER)
    call.ring()
    assert call.end().status_code == 204
    return call


def test_an_ended_hotline_call_is_deleted_at_twilio_and_a_retried_webhook_still_finds_it(client, svc, twilio_api):
    """Once over (and the delay passed) the call's record goes at Twilio through the Calls resource;
    its CallSid becomes a keyed hash, and Twilio retrying the call's webhooks afterwards neither
    adds a call nor undoes the missed call coordinators see."""
    call = ended_call(client)
    [call_id] = due(svc, utcnow() + DELAY).calls
    twilio_api.add(responses.DELETE, CALL_URL, status=204)
    assert run(svc, deletes.Due(calls=[call_id]), utcnow()).deleted == 1
    assert deleted_sids(twilio_api) == [call.sid]
    kept = row(svc, InboundCall, call_id)
    assert kept.provider_deleted_at is not None and kept.call_sid == forgotten_call_sid(svc.cipher, call.sid)
    assert not due(svc, utcnow() + DELAY * 100)
    assert call.end().status_code == 204
    call.ring()
    with svc.db.session() as session:
        assert session.scalar(select(func.count()).select_from(InboundCall)) == 1
    again = row(svc, InboundCall, call_id)
    assert again.outcome == CallOutcome.MISSED.value and again.call_sid == kept.call_sid


def test_a_call_in_progress_is_not_deleted(client, svc):
    """A call still going (no end heard, not yet given up) is left alone at the provider."""
    HotlineCall(client, CALLER).ring()
    assert not due(svc, utcnow() + DELAY).calls


def test_a_call_whose_end_was_never_heard_is_deleted_once_no_call_could_still_be_going(client, svc):
    """No status callback: the call is due once the sweep's 15 minutes have passed (and the delay)."""
    HotlineCall(client, CALLER).ring()
    assert not due(svc, utcnow() + CALL_GIVEN_UP).calls
    assert len(due(svc, utcnow() + CALL_GIVEN_UP + DELAY * 2).calls) == 1


def test_a_call_already_gone_at_twilio_forgets_its_sid(client, svc, twilio_api):
    """A 404 for a hotline call: already deleted there, so only the keyed hash is kept here."""
    call = ended_call(client)
    twilio_api.add(responses.DELETE, CALL_URL, status=404, json={"code": 20404, "message": "gone", "status": 404})
    assert run(svc, due(svc, utcnow() + DELAY), utcnow()).already_gone == 1
    with svc.db.session() as session:
        kept = session.scalars(select(InboundCall)).one()
        session.expunge(kept)
    assert kept.call_sid == forgotten_call_sid(svc.cipher, call.sid) and kept.provider_deleted_at is not None


def test_a_refused_call_delete_is_tried_again_with_backoff(client, svc, twilio_api):
    """Twilio's 20009 keeps the CallSid and tries again a minute later, when the delete goes through."""
    call = ended_call(client)
    now = utcnow() + DELAY
    twilio_api.add(responses.DELETE, CALL_URL, status=409, json=NOT_YET)
    [call_id] = (found := due(svc, now)).calls
    assert run(svc, found, now).retry == 1
    assert row(svc, InboundCall, call_id).call_sid == call.sid
    assert not due(svc, now + timedelta(seconds=59)).calls
    twilio_api.replace(responses.DELETE, CALL_URL, status=204)
    later = now + timedelta(seconds=60)
    assert run(svc, due(svc, later), later).deleted == 1
    assert deleted_sids(twilio_api) == [call.sid, call.sid]
    assert row(svc, InboundCall, call_id).call_sid == forgotten_call_sid(svc.cipher, call.sid)


def test_provider_delete_off_leaves_hotline_calls_at_twilio(env, svc):
    """PROVIDER_DELETE=off: the sweep claims no hotline call either."""
    with svc.db.session() as session:
        session.add(InboundCall(call_sid="CA" + "1" * 32, withheld=True, received_at=utcnow() - timedelta(days=1),
                                ended_at=utcnow() - timedelta(days=1), outcome=CallOutcome.MISSED.value))
    off = build_services(Settings.from_env(dict(env, PROVIDER_DELETE="off")))
    try:
        assert queue_provider_deletes(off, utcnow()) == 0
        assert due(svc, utcnow()).calls  # nothing claimed: still due once turned on
    finally:
        off.db.engine.dispose()
        off.redis.close()
