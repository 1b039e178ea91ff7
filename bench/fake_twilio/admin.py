"""The fake's own admin interface under ``/_fake/`` (loopback, no auth): what was recorded, the
configuration, faults to inject, and inbound traffic to simulate."""

from __future__ import annotations

import json
import threading
import urllib.parse
from typing import Any

from bench.fake_twilio.common import max_in_window, per_second
from bench.fake_twilio.voice import FATES, script_from_json


class AdminMixin:
    """Configuration, reset, stats and the ``/_fake/`` routes. State lives on the fake."""

    _lock: threading.RLock
    _defaults: dict[str, Any]

    def configure(self, **cfg: Any) -> None:
        """Apply the same keys as ``POST /_fake/config``."""
        with self._lock:
            if "latency" in cfg:
                self.latency = float(cfg["latency"])
            if "fail_numbers" in cfg:
                self.fail_numbers = cfg["fail_numbers"]
            if "undeliverable_numbers" in cfg:
                und = cfg["undeliverable_numbers"] or {}
                self.undeliverable_numbers = {
                    k: tuple(v) if isinstance(v, list) else v for k, v in und.items()
                }
            if cfg.get("fail_next"):
                fn = cfg["fail_next"]
                self.fail_next(int(fn.get("n", 1)), int(fn.get("status", 500)))
            if "callbacks" in cfg:
                self.callbacks = bool(cfg["callbacks"])
            if "callback_delay" in cfg:
                self.callback_delay = float(cfg["callback_delay"])
            if "callback_queued" in cfg:
                self.callback_queued = bool(cfg["callback_queued"])
            if "callback_shuffle" in cfg:
                self.callback_shuffle = bool(cfg["callback_shuffle"])
            if "hang_every" in cfg:
                self.hang_every = int(cfg["hang_every"])
            if "hang_seconds" in cfg:
                self.hang_seconds = float(cfg["hang_seconds"])
            if "refuse_deletes_next" in cfg:
                self._refuse_deletes = int(cfg["refuse_deletes_next"])
            if "play_calls" in cfg:
                self.play_calls = bool(cfg["play_calls"])
            if "dial_talk_seconds" in cfg:
                self.dial_talk_seconds = int(cfg["dial_talk_seconds"])
            if "real_seconds_per_second" in cfg:
                self.real_seconds_per_second = float(cfg["real_seconds_per_second"])
            if "caller_seconds_per_second" in cfg:
                self.caller_seconds_per_second = float(cfg["caller_seconds_per_second"])
            if "call_fates" in cfg:
                fates = {str(k): str(v) for k, v in (cfg["call_fates"] or {}).items()}
                if any(f not in FATES for f in fates.values()):
                    raise ValueError(f"a call's fate is one of {', '.join(FATES)}")
                self.call_fates = fates

    def config(self) -> dict[str, Any]:
        with self._lock:
            return {
                "account_sid": self.account_sid,
                "latency": self.latency,
                "fail_numbers": dict(self._fail_numbers),
                "fail_next": list(self._fail_queue),
                "undeliverable_numbers": dict(self._undeliverable),
                "callbacks": self.callbacks,
                "callback_delay": self.callback_delay,
                "callback_shuffle": self.callback_shuffle,
                "callback_queued": self.callback_queued,
                "hang_every": self.hang_every,
                "hang_seconds": self.hang_seconds,
                "refuse_deletes_next": self._refuse_deletes,
                "play_calls": self.play_calls,
                "call_fates": dict(self.call_fates),
                "dial_talk_seconds": self.dial_talk_seconds,
                "real_seconds_per_second": self.real_seconds_per_second,
                "caller_seconds_per_second": self.caller_seconds_per_second,
            }

    def reset(self, config: bool = False) -> None:
        """Forget recorded messages, calls, callback counters and pending ``fail_next`` faults.
        With ``config=True`` also restore latency/callbacks and clear fail/undeliverable maps."""
        with self._lock:
            self._reset_messages(config)
            self._reset_calls()
            self._reset_voice(config)
            self._reset_recordings()
            self._reset_callbacks()
            if config:
                self.latency = self._defaults["latency"]
                self.callbacks = self._defaults["callbacks"]
                self.callback_delay = 0.0
                self.callback_shuffle = False
                self.callback_queued = True
                self.hang_every = 0
                self.hang_seconds = 0.0

    def stats(self, window: float = 1.0) -> dict[str, Any]:
        times = self._received_times()
        with self._lock:
            segs = sum(m["num_segments"] for m in self._messages)
            extra = {
                "calls": len(self._calls),
                "calls_max_in_any_window": max_in_window(self.call_times(), window),
                "recordings": len(self._recordings),
                "callbacks_sent": self.callbacks_sent,
                "callback_errors": self.callback_errors,
                "callbacks_pending": self._cb_pending,
                # Every message accepted through the API, deleted since or not.
                "created": self._created,
                "held": len(self._messages) + len(self._held),
                "deletes": len(self._deletes),
            }
        return {
            "count": len(times),
            "segments": segs,
            "window": window,
            "max_in_any_window": max_in_window(times, window),
            "per_second_counts": per_second(times),
            "first_received_at": min(times) if times else None,
            "last_received_at": max(times) if times else None,
            **extra,
        }

    def _admin(self, method: str, path: str, query: str, body: bytes) -> tuple[int, Any]:
        args = {k: v[-1] for k, v in urllib.parse.parse_qs(query).items()}
        try:
            data = json.loads(body) if body.strip() else {}
        except ValueError:
            return 400, {"error": "body must be JSON"}
        if method == "GET" and path == "/_fake/messages":
            return 200, self.messages
        if method == "GET" and path == "/_fake/calls":
            return 200, self.calls
        if method == "GET" and path.startswith("/_fake/calls/CA"):
            call = self.get_call(path.rsplit("/", 1)[1])
            return (200, call) if call else (404, {"error": "no such call"})
        if method == "POST" and path == "/_fake/calls/script":
            try:
                self.script_call(data["to"], script_from_json(data.get("script")), data.get("fate", "human"))
            except (KeyError, TypeError, ValueError) as exc:
                return 400, {"error": repr(exc)}
            return 200, {"ok": True}
        if method == "POST" and path == "/_fake/calls/incoming":
            try:
                script = script_from_json(data.get("script"))
                return 200, self.incoming_call(data["from"], data["to"], data["url"], script,
                                               status_callback=data.get("status_callback"))
            except (KeyError, TypeError, ValueError) as exc:
                return 400, {"error": repr(exc)}
        if method == "GET" and path == "/_fake/call_deletes":
            return 200, self.call_deletes
        if method == "GET" and path == "/_fake/recordings":
            return 200, self.recordings
        if method == "GET" and path == "/_fake/recording_deletes":
            return 200, self.recording_deletes
        if method == "GET" and path == "/_fake/transcriptions":
            return 200, self.transcriptions
        if method == "GET" and path == "/_fake/transcription_deletes":
            return 200, self.transcription_deletes
        if method == "GET" and path == "/_fake/stats":
            return 200, self.stats(float(args.get("window", 1.0)))
        if method == "GET" and path == "/_fake/callbacks":
            with self._lock:
                return 200, list(self.callback_log)
        if method == "GET" and path == "/_fake/config":
            return 200, self.config()
        if method == "POST" and path == "/_fake/receive":
            return 200, {"sid": self.receive(data["from"], data["to"], data["body"])}
        if method == "POST" and path == "/_fake/reply":
            return 200, {"sid": self.reply(data["to"], data["from"], data["body"], data.get("action"))}
        if method == "GET" and path == "/_fake/deletes":
            return 200, self.deletes
        if method == "GET" and path == "/_fake/held":
            return 200, self.held()
        if method == "POST" and path == "/_fake/reset":
            self.reset(config=bool(data.get("config", False)))
            return 200, {"ok": True}
        if method == "POST" and path == "/_fake/config":
            try:
                self.configure(**data)
            except (TypeError, ValueError, AttributeError) as exc:
                return 400, {"error": repr(exc)}
            return 200, self.config()
        return 404, {"error": f"no admin route {method} {path}"}
