"""A loopback, Twilio-compatible REST server for end-to-end tests and benchmarks.

A package in the manner of GoAlert's devtools/mocktwilio, one module per concern:

* ``server``: the HTTP server and ``FakeTwilio`` (lifecycle, authentication, routing)
* ``messages``: the Messages resource, inbound texts and replies, faults, status callbacks
* ``calls``: the Calls resource
* ``recordings``: the Recordings resource and its Transcriptions (their own resource, as at Twilio)
* ``voice``: playing calls against the application's TwiML
* ``callbacks``: signing and sending webhooks to the application
* ``admin``: configuration, stats and the ``/_fake/`` routes
* ``client``: a twilio SDK client pointed at the fake
* ``common``: SIDs, dates, Twilio's error bodies, window counts

Standard library plus ``twilio`` (only for ``RequestValidator`` to sign status callbacks and for
``TwilioHttpClient`` in the redirecting helper client).

In process::

    with FakeTwilio(latency=0.05, callbacks=True) as fake:
        client = twilio_client(fake)
        msg = client.messages.create(to="+15550001234", from_="+15550009999", body="hi",
                                     status_callback="http://127.0.0.1:5000/twilio/status")
        fake.wait_for_callbacks()
        assert fake.sent_to("+15550001234")[0]["sid"] == msg.sid

Out of process::

    python -m bench.fake_twilio --port 8099 --latency-ms 100 --account-sid AC... --auth-token ...

Admin interface (loopback, no auth): ``GET /_fake/messages``, ``GET /_fake/calls``,
``GET /_fake/stats[?window=1.0]``, ``GET /_fake/deletes`` (every DELETE of a message and its
answer), ``GET /_fake/held`` (SIDs of every message still stored: sent, received or replied),
``GET /_fake/call_deletes``, ``GET /_fake/recordings``, ``GET /_fake/recording_deletes``,
``GET /_fake/transcriptions``, ``GET /_fake/transcription_deletes``,
``POST /_fake/receive`` (JSON from, to, body: an inbound text; answers its sid), ``POST
/_fake/reply`` (JSON to, from, body, action: a TwiML reply as Twilio sends it),
``GET /_fake/config``, ``POST /_fake/reset`` (JSON body
``{"config": true}`` also restores the configuration), ``POST /_fake/config`` (JSON: latency,
fail_numbers, fail_next {n, status}, undeliverable_numbers, callbacks, callback_delay,
callback_shuffle, callback_queued (false: no `queued` callback), hang_every, hang_seconds: every
Nth accepted message is answered only after
hang_seconds, as a Twilio that took the text but is slow to say so), refuse_deletes_next.

Deleting a message (``DELETE .../Messages/SM....json``) answers 204 and forgets it, 404 when it
is not there, and 409 with error 20009 while the message is not final yet (queued, sending), as
Twilio refuses a delete until its own processing is done; ``refuse_deletes_next`` makes the next
n deletes answer 20009 whatever the status. Inbound texts (``receive``) and TwiML replies
(``reply``) are held too, apart from ``messages`` (which stays the API sends, for measurements).

The notes that matter for measurements are in ``server``.
"""

from bench.fake_twilio.client import RedirectingHttpClient, twilio_client
from bench.fake_twilio.common import (
    API_VERSION,
    DEFAULT_ACCOUNT_SID,
    DEFAULT_AUTH_TOKEN,
    ERROR_MESSAGES,
    max_in_window,
    new_sid,
    per_second,
    rfc2822,
    twilio_error,
)
from bench.fake_twilio.messages import segments
from bench.fake_twilio.server import FakeTwilio

__all__ = [
    "API_VERSION",
    "DEFAULT_ACCOUNT_SID",
    "DEFAULT_AUTH_TOKEN",
    "ERROR_MESSAGES",
    "FakeTwilio",
    "RedirectingHttpClient",
    "max_in_window",
    "new_sid",
    "per_second",
    "rfc2822",
    "segments",
    "twilio_client",
    "twilio_error",
]
