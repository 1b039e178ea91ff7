"""The TwiML of an alert call, built with twilio.twiml.voice_response only (no hand-written XML).

The sender hands `alert` to the provider when it places the call; the keypress webhook answers with
`alert` again (a replay) or `spoken` (the answer read back, then hang up). The Gather's action URL
carries only our message id and the play number (`?m=42&p=1`); Twilio's signature covers it.
"""

from __future__ import annotations

from collections.abc import Sequence

from twilio.twiml.voice_response import VoiceResponse

from rapidresponse.i18n import Say

# Seconds the Gather waits for a key after the alert is spoken (Twilio's default is 5).
GATHER_TIMEOUT = 6


def action_url(base_url: str, message_id: int, play: int) -> str:
    return f"{base_url}/twilio/voice/alert?m={message_id}&p={play}"


def alert(script: str, say: Say, action: str, *, before: Sequence[str] = ()) -> str:
    """Speak `before` (a short notice), then the alert, waiting for one key all along. The action is
    called with no Digits too (actionOnEmptyResult), so a silent play is counted like any other."""
    response = VoiceResponse()
    gather = response.gather(num_digits=1, action=action, method="POST", timeout=GATHER_TIMEOUT,
                             action_on_empty_result=True)
    for sentence in [*before, script]:
        gather.say(sentence, language=say.language, voice=say.voice)
    return str(response)


def spoken(sentences: Sequence[str], say: Say) -> str:
    """Say these and hang up."""
    response = VoiceResponse()
    for sentence in sentences:
        response.say(sentence, language=say.language, voice=say.voice)
    response.hangup()
    return str(response)
