"""``python -m bench.fake_twilio``: the fake in its own process, until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

from bench.fake_twilio.common import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN
from bench.fake_twilio.server import FakeTwilio
from rapidresponse.priority import run_below_the_web
from rapidresponse.settings import Settings


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.fake_twilio",
                                description="A loopback, Twilio-compatible REST server.")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--latency-ms", type=float, default=0.0)
    p.add_argument("--account-sid", default=DEFAULT_ACCOUNT_SID)
    p.add_argument("--auth-token", default=DEFAULT_AUTH_TOKEN)
    p.add_argument("--callbacks", action="store_true", help="send signed status callbacks")
    p.add_argument("--callback-workers", type=int, default=4, help="status callbacks sent at once")
    p.add_argument("--callback-timeout", type=float, default=2.0, help="seconds before a callback fails")
    p.add_argument("--play-calls", action="store_true", help="ring and play every call placed")
    p.add_argument("--verbose", action="store_true", help="log every request")
    p.add_argument("--nice", type=int, default=None,
                   help="niceness to run at (default WORKER_NICE, as the workers): Twilio's servers are not on "
                        "the application's machine, so the fake standing in for them should not take the "
                        "cores from the workers ahead of them, as it would at the web's niceness")
    a = p.parse_args(argv)
    nice = a.nice if a.nice is not None else int(os.environ.get("WORKER_NICE", "").strip() or Settings.worker_nice)
    run_below_the_web(nice)  # before any thread starts: each inherits it

    fake = FakeTwilio(
        account_sid=a.account_sid,
        auth_token=a.auth_token,
        latency=a.latency_ms / 1000.0,
        port=a.port,
        callbacks=a.callbacks,
        callback_workers=a.callback_workers,
        callback_timeout=a.callback_timeout,
        verbose=a.verbose,
        play_calls=a.play_calls,
    ).start()
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    print(f"listening on {fake.url}", flush=True)
    try:
        while not done.wait(0.5):
            pass
    finally:
        fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
