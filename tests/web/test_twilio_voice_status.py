"""POST /twilio/voice/status: an alert call's statuses, signed, handed on like a text's, never moving
backwards. Busy, no answer, failed, canceled, voicemail or an answer without a key: "not reached by
call", the member still pending and escalation going on. Only a keypress counts."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from rapidresponse.escalation.service import due_incidents
from rapidresponse.incidents.models import Acknowledgement, IncidentLayer
from rapidresponse.messaging.models import OutboundMessage
from tests.conftest import row
from tests.web.voice_helpers import call_status, placed_calls, press, report, thread, voice_members

ANA, BO = "+12125550194", "+12125550195"


@pytest.fixture
def calls(client, svc):
    voice_members(svc, ANA, BO)
    incident = report(client, svc)
    return incident, placed_calls(svc, incident.id)


def status_of(svc, message_id: int) -> str:
    return row(svc, OutboundMessage, message_id).status


def test_an_answered_call_with_a_keypress_is_delivered_and_reached(client, svc, calls):
    """initiated, ringing, in-progress, completed: the call's row moves queued -> sent -> delivered, and a
    call answered with a key is no "not reached" line."""
    incident, placed = calls
    for status in ("initiated", "ringing", "in-progress"):
        assert call_status(client, placed[ANA], status).status_code == 204
    assert status_of(svc, placed[ANA].message_id) == "sent"
    press(client, placed[ANA], "1")
    call_status(client, placed[ANA], "completed")
    assert status_of(svc, placed[ANA].message_id) == "delivered"
    assert thread(svc, incident.id, "not_reached") == []


@pytest.mark.parametrize(("status", "answered_by", "outcome", "final"), [
    ("busy", None, "busy", "undelivered"),
    ("no-answer", None, "no-answer", "undelivered"),
    ("canceled", None, "canceled", "undelivered"),
    ("failed", None, "failed", "failed"),
    ("completed", None, "completed", "delivered"),  # answered, but no key pressed
    ("completed", "machine_end_beep", "machine", "delivered"),  # voicemail
])
def test_a_call_without_a_keypress_is_not_reached(client, svc, calls, status, answered_by, outcome, final):
    """Whatever ended it, a call without a keypress is one "not reached by call" line under the
    member's pseudonym; no acknowledgement, and the layer keeps waiting for its quorum."""
    incident, placed = calls
    call_status(client, placed[ANA], "ringing")
    call_status(client, placed[ANA], status, answered_by=answered_by)
    assert status_of(svc, placed[ANA].message_id) == final
    [line] = thread(svc, incident.id, "not_reached")
    assert line.detail == {"by": "call", "outcome": outcome, "layer": 2, "message": placed[ANA].message_id}
    assert line.participant_id is not None
    with svc.db.session() as session:
        assert session.scalars(select(Acknowledgement)).all() == []
        layer = session.scalars(select(IncidentLayer).where(IncidentLayer.incident_id == incident.id,
                                                            IncidentLayer.number == 2)).one()
        assert layer.status == "alerted" and layer.due_at is not None
        assert incident.id in due_incidents(session, layer.due_at)  # escalation goes on when the wait is over


def test_voicemail_that_heard_a_keypress_still_counts_the_key(client, svc, calls):
    """AnsweredBy says machine, but a key was pressed: the key counted, and the call was reached."""
    incident, placed = calls
    press(client, placed[ANA], "1")
    call_status(client, placed[ANA], "completed", answered_by="machine_start")
    assert thread(svc, incident.id, "not_reached") == []


def test_a_duplicated_final_status_acts_once(client, svc, calls):
    """Twilio repeating the no-answer callback leaves one line."""
    incident, placed = calls
    call_status(client, placed[ANA], "no-answer")
    call_status(client, placed[ANA], "no-answer")
    assert len(thread(svc, incident.id, "not_reached")) == 1


def test_late_statuses_never_move_a_call_backwards(client, svc, calls):
    """A ringing callback arriving after completed changes nothing."""
    incident, placed = calls
    call_status(client, placed[ANA], "completed")
    call_status(client, placed[ANA], "ringing")
    call_status(client, placed[ANA], "busy")
    assert status_of(svc, placed[ANA].message_id) == "delivered"
    assert len(thread(svc, incident.id, "not_reached")) == 1


def test_a_forged_status_is_refused(client, svc, calls):
    """Unsigned or forged: 403, nothing recorded."""
    incident, placed = calls
    assert call_status(client, placed[ANA], "busy", token="forged-token-000").status_code == 403
    assert status_of(svc, placed[ANA].message_id) == "queued"
    assert thread(svc, incident.id, "not_reached") == []


def test_a_status_for_a_call_we_never_placed_is_ignored(client, svc, calls):
    """An unknown CallSid (and no id of ours) is accepted and ignored."""
    incident, placed = calls
    assert call_status(client, placed[ANA], "busy", sid="CA" + "e" * 32, query="").status_code == 204
    assert status_of(svc, placed[ANA].message_id) == "queued"
    assert thread(svc, incident.id, "not_reached") == []


@pytest.mark.parametrize(("field", "value"), [("CallSid", ""), ("CallSid", "CA-not-a-sid"), ("CallStatus", ""),
                                              ("CallStatus", "busy; drop"), ("ErrorCode", "abc")])
def test_a_malformed_status_is_a_400(client, svc, calls, field, value):
    """What Twilio never sends is a 400, never a 500."""
    from tests.conftest import ACCOUNT_SID, signed_post

    _, placed = calls
    params = {"CallSid": placed[ANA].sid, "CallStatus": "busy", "AccountSid": ACCOUNT_SID, field: value}
    response = signed_post(client, "/twilio/voice/status", params, query=f"m={placed[ANA].message_id}")
    assert response.status_code == 400


def test_an_unknown_call_status_is_ignored(client, svc, calls):
    """A status Twilio may add one day changes nothing and is not an error."""
    _, placed = calls
    assert call_status(client, placed[ANA], "answered-elsewhere").status_code == 204
    assert status_of(svc, placed[ANA].message_id) == "queued"
