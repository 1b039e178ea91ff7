"""A send rate limit shared by every worker through Redis, counted in SMS segments.

A sliding one-second log per sender (number or Messaging Service): a send of `cost` segments is
allowed when the segments sent in the last `window` plus `cost` stay within the limit. Redis'
clock is the only clock, so workers on different machines agree. Urgent sends (alerts, replies)
go first: while one waits, bulk sends (broadcasts) are refused their turn.
"""

from __future__ import annotations

import hashlib
import time
import uuid

from redis import Redis

_ACQUIRE = """
local log, urgent_flag = KEYS[1], KEYS[2]
local limit, cost, window, bulk = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4] == '1'
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZREMRANGEBYSCORE', log, '-inf', now - window)
if bulk and redis.call('EXISTS', urgent_flag) == 1 then
  return 50000
end
local entries = redis.call('ZRANGE', log, 0, -1, 'WITHSCORES')
local used = 0
for i = 1, #entries, 2 do
  used = used + tonumber(string.match(entries[i], ':(%d+)$'))
end
if used + cost <= limit then
  redis.call('ZADD', log, now, ARGV[5] .. ':' .. cost)
  redis.call('PEXPIRE', log, math.ceil(window / 1000) + 1000)
  return 0
end
if not bulk then
  redis.call('SET', urgent_flag, '1', 'PX', 2000)
end
-- Wait until enough of the oldest entries have left the window.
local freed = 0
for i = 1, #entries, 2 do
  freed = freed + tonumber(string.match(entries[i], ':(%d+)$'))
  if used - freed + cost <= limit then
    return math.max(1, tonumber(entries[i + 1]) + window - now)
  end
end
return window
"""


class RateLimiter:
    """`acquire` blocks until `cost` segments may be sent now; a limit of 0 means unlimited."""

    def __init__(self, redis: Redis, sender: str, segments_per_second: float, *, prefix: str = "",
                 margin_seconds: float = 0.02) -> None:
        self.limit = segments_per_second
        self._redis = redis
        # The sender id is our own number or service, but hash it anyway: no numbers in Redis keys.
        tag = hashlib.sha256(sender.encode()).hexdigest()[:16]
        self._log_key = f"{prefix}rr:rate:{tag}"
        self._urgent_key = f"{prefix}rr:rate:{tag}:urgent"
        # Fractional limits (0.5/s) become N segments per a longer window.
        if segments_per_second <= 0:
            per_window, window = 0.0, 1.0
        elif segments_per_second >= 1:
            per_window, window = segments_per_second, 1.0
        else:
            per_window, window = 1, 1 / segments_per_second
        self._per_window = int(per_window)
        # A small margin keeps the limit true as the provider sees it, despite jitter in between.
        self._window_us = int((window + margin_seconds) * 1_000_000)
        self._script = redis.register_script(_ACQUIRE) if segments_per_second > 0 else None

    def acquire(self, cost: int = 1, *, bulk: bool = False, timeout: float | None = None) -> bool:
        if self._script is None:
            return True
        cost = max(1, min(cost, self._per_window))
        deadline = None if timeout is None else time.monotonic() + timeout
        token = uuid.uuid4().hex
        while True:
            wait_us = int(self._script(keys=[self._log_key, self._urgent_key],
                                       args=[self._per_window, cost, self._window_us, int(bulk), token]))
            if wait_us == 0:
                return True
            pause = wait_us / 1_000_000
            if deadline is not None and time.monotonic() + pause > deadline:
                return False
            time.sleep(pause)
