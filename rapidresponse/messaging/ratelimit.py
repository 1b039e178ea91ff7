"""A send rate limit shared by every worker through Redis, counted in SMS segments.

GCRA with reservations: each send reserves the next free slot on one timeline per sender
(number or Messaging Service) and sleeps until it. Slots are spaced evenly (cost x 1/N seconds,
plus a 2% margin), so no one-second window ever holds more than N segments as the provider
sees them, and there are two Redis calls per send however many threads wait: the reservation,
and a gate just before sending that keeps a late waker from crowding the sends behind it.
Redis' clock is the only clock, so workers agree.

Urgent sends (alerts, replies) go first: bulk sends (broadcasts) may not reserve more than a slot
or two ahead, and not at all while an urgent send is waiting, so a big broadcast never sits in
front of a new raid alert.
"""

from __future__ import annotations

import hashlib
import time

from redis import Redis

_RESERVE = """
local timeline, urgent_flag = KEYS[1], KEYS[2]
local interval, cost, bulk, horizon = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3] == '1', tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', timeline) or '0')
if tat < now then tat = now end
if bulk then
  if redis.call('EXISTS', urgent_flag) == 1 then return -20000 end
  if tat - now > horizon then return -(tat - now - horizon) end
else
  redis.call('SET', urgent_flag, '1', 'PX', math.floor((tat - now) / 1000) + 50)
end
local next_free = tat + cost * interval
redis.call('SET', timeline, string.format('%.0f', next_free), 'PX', math.floor((next_free - now) / 1000) + 1000)
return string.format('%.0f', tat - now)
"""


# The gate: right before sending, a thread that woke up late (the GIL, a slow moment) must not
# crowd the sends behind it. Each send passes only `cost x interval` after the previous one did.
_GATE = """
local gate = KEYS[1]
local interval, cost = tonumber(ARGV[1]), tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local open_at = tonumber(redis.call('GET', gate) or '0')
if now < open_at then return string.format('%.0f', open_at - now) end
local next_open = now + cost * interval
redis.call('SET', gate, string.format('%.0f', next_open), 'PX', math.floor((next_open - now) / 1000) + 1000)
return 0
"""


class RateLimiter:
    """`acquire` blocks until `cost` segments may be sent; a limit of 0 means unlimited."""

    def __init__(self, redis: Redis, sender: str, segments_per_second: float, *, prefix: str = "",
                 margin: float = 0.02) -> None:
        self.limit = segments_per_second
        # The sender id is our own number or service, but hash it anyway: no numbers in Redis keys.
        tag = hashlib.sha256(sender.encode()).hexdigest()[:16]
        self._keys = [f"{prefix}rr:rate:{tag}", f"{prefix}rr:rate:{tag}:urgent"]
        self._gate_key = f"{prefix}rr:rate:{tag}:gate"
        # Slots are reserved 2% apart; the gate lets sends through 0.5% apart, so on-time sends
        # pass at once and only a late one pushes the next back.
        self._interval_us = 1_000_000 / segments_per_second * (1 + margin) if segments_per_second > 0 else 0.0
        self._gate_interval_us = 1_000_000 / segments_per_second * (1 + margin / 4) if segments_per_second > 0 else 0.0
        self._script = redis.register_script(_RESERVE) if segments_per_second > 0 else None
        self._gate = redis.register_script(_GATE) if segments_per_second > 0 else None

    def acquire(self, cost: int = 1, *, bulk: bool = False) -> None:
        if self._script is None or self._gate is None:
            return
        cost = max(1, cost)
        horizon = 2 * self._interval_us
        while True:
            wait_us = int(self._script(keys=self._keys, args=[self._interval_us, cost, int(bulk), horizon]))
            if wait_us >= 0:
                break
            time.sleep(-wait_us / 1_000_000)
        if wait_us:
            time.sleep(wait_us / 1_000_000)
        while wait_us := int(self._gate(keys=[self._gate_key], args=[self._gate_interval_us, cost])):
            time.sleep(wait_us / 1_000_000)
