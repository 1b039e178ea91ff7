"""Nothing of a hotline call left at the provider, with real workers and the fake Twilio: the call's
record goes once it is over, its recording and the recording's transcription once the incident
closes (RECORDING_KEEP_HOURS), each deleted exactly once, and our rows keep only a keyed hash of
the CallSid and no recording id."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from sqlalchemy import select

from bench.fake_twilio.voice import Speak
from rapidresponse.hotline.models import InboundCall, Recording, forgotten_call_sid
from rapidresponse.incidents.models import Incident
from tests.e2e.harness import Stack, wait_until
from tests.e2e.test_alert_escalation import incident

CALLER = "+12125550360"
HANGS_UP = "+12125550361"
VERIFIER = "+12125550362"


def ok_deletes(deletes: list[dict[str, object]]) -> Counter[object]:
    return Counter(d["sid"] for d in deletes if d["status"] == 204)


def test_hotline_calls_go_when_over_and_the_recording_when_its_incident_closes(tmp_path: Path):
    """A caller reports by phone (transcribed: VOICE_TRANSCRIBE=on) and another hangs up at the menu:
    both calls are deleted at Twilio once over, while the recording and its transcription stay as
    long as the incident is open; the verifier's FALSE closes the incident and they go too
    (RECORDING_KEEP_HOURS=0). Each record gets one successful DELETE; our rows keep the CallSids
    only as keyed hashes, and no recording id."""
    stack = Stack(tmp_path, play_calls=True, PROVIDER_DELETE_DELAY_SECONDS="1", RECORDING_KEEP_HOURS="0",
                  VOICE_TRANSCRIBE="on")
    try:
        stack.member(VERIFIER, roles="responder", trees={"ice": 1})
        stack.start_worker()
        report = stack.call_hotline(CALLER, ["1", Speak(20, "two vans at the corner", "#")])
        missed = stack.call_hotline(HANGS_UP, ["hangup"])
        [recording_sid] = report["recordings"]
        code = incident(stack).code
        wait_until(lambda: {report["sid"], missed["sid"]} <= set(ok_deletes(stack.fake.call_deletes)))
        # The sweep that claimed the calls found the recording not yet due: its incident is open.
        assert [r["sid"] for r in stack.fake.recordings] == [recording_sid]
        [transcription] = stack.fake.transcriptions
        assert transcription["recording_sid"] == recording_sid
        assert stack.fake.recording_deletes == [] and stack.fake.transcription_deletes == []

        wait_until(lambda: stack.received(VERIFIER))
        stack.text(VERIFIER, "YES")
        stack.text(VERIFIER, f"FALSE {code}")
        wait_until(lambda: incident(stack).closed_at is not None)
        wait_until(lambda: not stack.fake.recordings)
        assert ok_deletes(stack.fake.recording_deletes) == {recording_sid: 1}
        assert stack.fake.transcriptions == []
        assert ok_deletes(stack.fake.transcription_deletes) == {transcription["sid"]: 1}
        calls = ok_deletes(stack.fake.call_deletes)
        assert calls[report["sid"]] == 1 and calls[missed["sid"]] == 1
        assert not [c for c in stack.fake.calls if c["direction"] == "inbound"]  # nothing of either caller

        def forgotten() -> bool:
            # The job writes our side right after the provider's 204: on a loaded machine, a moment later.
            with stack.svc.db.session() as session:
                kept = set(session.scalars(select(InboundCall.call_sid)))
                tokens = list(session.scalars(select(Recording.sid_token)))
            hashes = {forgotten_call_sid(stack.svc.cipher, c["sid"]) for c in (report, missed)}
            return kept == hashes and tokens == [None]

        wait_until(forgotten, timeout=30)
        with stack.svc.db.session() as session:
            [kept] = session.scalars(select(Recording)).all()
            assert kept.provider_deleted_at is not None and kept.duration_seconds == 20
            assert stack.svc.cipher.decrypt(kept.transcript_token) == "two vans at the corner"  # ours, encrypted
            assert session.scalars(select(Incident.closed_at)).one() is not None
    finally:
        stack.close()
