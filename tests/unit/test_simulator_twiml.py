"""The TwiML interpreter the simulator's phone and the fake Twilio follow calls with."""

from __future__ import annotations

import pytest
from twilio.twiml.voice_response import VoiceResponse

from rapidresponse.simulator import twiml

BASE = "https://example.org/twilio/voice"


def menu_document(**gather_kwargs: object) -> str:
    response = VoiceResponse()
    response.say("Hello", language="en-US", voice="Polly.Joanna")
    gather = response.gather(action="/twilio/voice?step=menu", num_digits=1, **gather_kwargs)
    gather.say("Press 1 for a raid", language="en-US")
    gather.pause(length=2)
    response.say("We did not hear you.")
    response.redirect("/twilio/voice?step=greeting")
    return str(response)


def test_heard_lines_come_before_the_gather_that_waits():
    """A caller hears the greeting and the Gather's own prompts before the line waits for a key."""
    turn = twiml.advance(twiml.parse(menu_document(), BASE))
    assert twiml.spoken(turn.heard) == ["Hello", "Press 1 for a raid"]
    assert turn.heard[0].language == "en-US" and turn.heard[0].voice == "Polly.Joanna"
    assert isinstance(turn.stop, twiml.Gather)
    assert turn.stop.action == "https://example.org/twilio/voice?step=menu"  # resolved like Twilio
    assert turn.stop.timeout == twiml.GATHER_TIMEOUT and turn.stop.num_digits == 1


def test_a_keypress_goes_to_the_action_as_digits():
    """Pressing 1 posts Digits=1 to the Gather's action."""
    gather = twiml.advance(twiml.parse(menu_document(), BASE)).stop
    assert isinstance(gather, twiml.Gather)
    assert twiml.after_gather(gather, "1") == twiml.Request(
        "https://example.org/twilio/voice?step=menu", "POST", {"Digits": "1"})


@pytest.mark.parametrize(("num_digits", "pressed", "digits"), [
    (1, "12", "1"),        # numDigits stops the Gather
    (None, "42#7", "42"),  # the finish key ends it and is not reported
    (None, "x9", "9"),     # what is not a key is not heard
])
def test_digits_reported_as_twilio_cuts_them(num_digits, pressed, digits):
    """Digits are cut at numDigits or the finish key, as Twilio reports them."""
    response = VoiceResponse()
    response.gather(action="/a", **({"num_digits": num_digits} if num_digits else {}))
    gather = twiml.advance(twiml.parse(str(response), BASE)).stop
    assert isinstance(gather, twiml.Gather)
    assert twiml.keys_for(gather, pressed) == digits


def test_silence_falls_through_unless_action_on_empty_result():
    """No key: the verbs after the Gather run, unless actionOnEmptyResult asks for the action."""
    verbs = twiml.parse(menu_document(), BASE)
    turn = twiml.advance(verbs)
    assert isinstance(turn.stop, twiml.Gather)
    assert twiml.after_gather(turn.stop, None) is None
    after = twiml.advance(verbs, turn.resume_at)
    assert twiml.spoken(after.heard) == ["We did not hear you."]
    assert after.stop == twiml.Redirect("https://example.org/twilio/voice?step=greeting", "POST")

    eager = twiml.advance(twiml.parse(menu_document(action_on_empty_result=True), BASE)).stop
    assert isinstance(eager, twiml.Gather)
    assert twiml.after_gather(eager, "") == twiml.Request("https://example.org/twilio/voice?step=menu", "POST", {})


def test_record_posts_the_recording_and_silence_skips_the_action():
    """A recording posts its URL, SID, length and finish key; a recording of no sound posts nothing."""
    response = VoiceResponse()
    response.record(action="/twilio/voice?step=recorded", max_length=120, finish_on_key="#", transcribe=True,
                    transcribe_callback="https://example.org/t")
    record = twiml.advance(twiml.parse(str(response), BASE)).stop
    assert isinstance(record, twiml.Record)
    assert record.max_length == 120 and record.transcribe and record.transcribe_callback == "https://example.org/t"
    request = twiml.after_record(record, seconds=34, recording_sid="RE1", recording_url="https://r/RE1",
                                 ended_by="#")
    assert request == twiml.Request("https://example.org/twilio/voice?step=recorded", "POST", {
        "RecordingUrl": "https://r/RE1", "RecordingSid": "RE1", "RecordingDuration": "34", "Digits": "#"})
    assert twiml.after_record(record, seconds=0, recording_sid="", recording_url="", ended_by=None) is None


def test_hangup_and_the_end_of_the_document_end_the_call():
    """Hangup stops the call; so does running out of verbs."""
    response = VoiceResponse()
    response.say("Your code is K, 7.")
    response.hangup()
    turn = twiml.advance(twiml.parse(str(response)))
    assert twiml.spoken(turn.heard) == ["Your code is K, 7."] and turn.stop == twiml.Hangup()
    assert twiml.advance(twiml.parse("<Response><Say>Bye</Say></Response>")).stop is None


@pytest.mark.parametrize("document", ["not xml", "<Message>hi</Message>"])
def test_what_is_not_voice_twiml_is_refused(document):
    """A body that is not a <Response> document is a TwimlError, not a silent call."""
    with pytest.raises(twiml.TwimlError):
        twiml.parse(document)


def test_verbs_it_does_not_know_are_named():
    """A verb the interpreter does not follow (Enqueue, a Dial to a conference) is reported, not guessed at."""
    turn = twiml.advance(twiml.parse("<Response><Enqueue>support</Enqueue></Response>"))
    assert turn.stop == twiml.Unsupported("Enqueue")
    turn = twiml.advance(twiml.parse("<Response><Dial><Conference>room</Conference></Dial></Response>"))
    assert turn.stop == twiml.Unsupported("Dial")


def test_a_dial_bridges_to_its_number_then_calls_its_action():
    """<Dial callerId action><Number statusCallback> is read with Twilio's defaults, and its end
    asks the action with DialCallStatus, DialCallDuration and DialCallSid."""
    document = ('<Response><Dial callerId="+15550000000" action="/after?m=1" timeLimit="1200">'
                '<Number statusCallback="https://rr.example.org/leg?m=1" statusCallbackEvent="answered completed">'
                "+15550001111</Number></Dial><Say>after</Say></Response>")
    turn = twiml.advance(twiml.parse(document, "https://rr.example.org/twilio/voice/campaign?m=1"))
    dial = turn.stop
    assert isinstance(dial, twiml.Dial)
    assert (dial.number, dial.caller_id, dial.time_limit, dial.timeout) == ("+15550001111", "+15550000000", 1200, 30)
    assert dial.status_callback_events == ("answered", "completed")
    request = twiml.after_dial(dial, status="completed", seconds=95, dial_sid="CA1")
    assert request == twiml.Request("https://rr.example.org/after?m=1", "POST", {
        "DialCallStatus": "completed", "DialCallDuration": "95", "DialCallSid": "CA1"})
