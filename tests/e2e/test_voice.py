"""Alert calls end to end, with real workers and the fake Twilio playing every call as Twilio
would: a layer reaching quorum by keypress, voicemail, and a text that falls back to a call."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from tests.e2e.harness import Stack, wait_until
from tests.e2e.test_alert_escalation import incident

CALLER = "+12125550350"
VERIFIER = "+12125550351"


RESPONDERS = ["+12125550352", "+12125550353", "+12125550354"]


def on_voice(stack: Stack, phone: str, **kwargs: object) -> int:
    """A member alerted by call (channel voice), otherwise as Stack.member makes them."""
    from rapidresponse.members.models import Member

    member_id = stack.member(phone, **kwargs)  # type: ignore[arg-type]
    with stack.svc.db.session() as session:
        found = session.get(Member, member_id)
        assert found is not None
        found.channel = "voice"
    return member_id


def acknowledgements(stack: Stack) -> list[str]:
    from rapidresponse.incidents.models import Acknowledgement

    with stack.svc.db.session() as session:
        return list(session.scalars(select(Acknowledgement.answer).order_by(Acknowledgement.id)))


def test_a_layer_of_voice_responders_reaches_quorum_by_keypress(tmp_path: Path):
    """The verifier confirms by text; two of three responders on voice press 1, one presses 2:
    the layer's quorum of two is reached by keypress and the supporters are never alerted."""
    stack = Stack(tmp_path, play_calls=True, wait=30.0)
    try:
        stack.member(VERIFIER, roles="responder", trees={"ice": 1})
        for number, keys in zip(RESPONDERS, ["1", "2", "1"], strict=True):
            on_voice(stack, number, roles="responder", trees={"ice": 2})
            stack.fake.script_call(number, [keys])
        stack.member("+12125550359", trees={"ice": 3})
        stack.start_worker()
        stack.text(CALLER, "ICE at 5th and Main, 2 vans")
        code = incident(stack).code
        wait_until(lambda: stack.received(VERIFIER))
        stack.text(VERIFIER, "YES")
        stack.text(VERIFIER, f"CONFIRM {code}")
        wait_until(lambda: incident(stack).covered_at is not None)
        assert sorted(acknowledgements(stack)) == ["no", "yes", "yes", "yes"]  # the verifier's YES too
        stack.fake.wait_for_calls()
        assert stack.received("+12125550359") == []  # layer 3 never hears
    finally:
        stack.close()


def test_voicemail_is_not_an_acknowledgement(tmp_path: Path):
    """The verifier's call goes to voicemail: nothing is counted, and escalation goes on as for an
    unanswered text (the next layer is alerted, unverified, after the wait)."""
    stack = Stack(tmp_path, play_calls=True)
    try:
        on_voice(stack, VERIFIER, roles="responder", trees={"ice": 1})
        stack.fake.script_call(VERIFIER, ["1"], fate="voicemail")  # a machine presses nothing
        stack.member(RESPONDERS[0], roles="responder", trees={"ice": 2})
        stack.start_worker()
        stack.text(CALLER, "ICE at 5th and Main, 2 vans")
        wait_until(lambda: stack.received(RESPONDERS[0]))
        assert acknowledgements(stack) == []
        [alert] = stack.fake.calls_to(VERIFIER)
        assert alert["fate"] == "voicemail" and alert["pressed"] and not any(alert["pressed"])
    finally:
        stack.close()


def test_an_undelivered_text_to_a_landline_falls_back_to_a_call(tmp_path: Path):
    """The verifier's alert text comes back undelivered as a landline (30006): the member is switched
    to voice, one call follows, and pressing 1 on it counts."""
    from rapidresponse.members.models import Member

    stack = Stack(tmp_path, play_calls=True)
    try:
        member_id = stack.member(VERIFIER, roles="responder", trees={"ice": 1})
        stack.fake.undeliverable_numbers = {VERIFIER: 30006}
        stack.fake.script_call(VERIFIER, ["1"])
        stack.start_worker()
        stack.text(CALLER, "ICE at 5th and Main, 2 vans")
        wait_until(lambda: acknowledgements(stack) == ["yes"])
        assert len(stack.received(VERIFIER)) == 1 and len(stack.fake.calls_to(VERIFIER)) == 1
        with stack.svc.db.session() as session:
            found = session.get(Member, member_id)
            assert found is not None and found.channel == "voice"
    finally:
        stack.close()
