"""The TwiML of a campaign call, built with twilio.twiml.voice_response only (no hand-written XML).

`opening` is what the sender places: the script's first line, then a `<Redirect>` to the bridge
webhook (so the target is chosen when the member is on the line, not when we dial them).
`connect` is the bridge: `<Dial callerId=the network's number>` to the target, its action and its
leg's status callbacks telling us how it ended. URLs carry only our message id (`?m=42`)."""

from __future__ import annotations

from twilio.twiml.voice_response import VoiceResponse

from rapidresponse.i18n import Say


def bridge_url(base_url: str, message_id: int) -> str:
    return f"{base_url}/twilio/voice/campaign?m={message_id}"


def after_url(base_url: str, message_id: int) -> str:
    return f"{base_url}/twilio/voice/campaign/after?m={message_id}"


def leg_url(base_url: str, message_id: int) -> str:
    return f"{base_url}/twilio/voice/campaign/leg?m={message_id}"


def opening(spoken: str, say: Say, bridge: str) -> str:
    response = VoiceResponse()
    response.say(spoken, language=say.language, voice=say.voice)
    response.redirect(bridge, method="POST")
    return str(response)


def connect(number: str, say: Say, *, caller_id: str | None, action: str, leg_callback: str, time_limit: int,
            timeout: int) -> str:
    response = VoiceResponse()
    dial = response.dial(caller_id=caller_id, action=action, method="POST", time_limit=time_limit, timeout=timeout)
    dial.number(number, status_callback=leg_callback, status_callback_method="POST",
                status_callback_event="answered completed")
    return str(response)


def hold(sentence: str | None, say: Say, bridge: str, seconds: int) -> str:
    """'Please hold' (the first time), a pause, then ask the bridge again."""
    response = VoiceResponse()
    if sentence:
        response.say(sentence, language=say.language, voice=say.voice)
    response.pause(length=seconds)
    response.redirect(bridge, method="POST")
    return str(response)


def goodbye(sentence: str, say: Say) -> str:
    response = VoiceResponse()
    response.say(sentence, language=say.language, voice=say.voice)
    response.hangup()
    return str(response)
