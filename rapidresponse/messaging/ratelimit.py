"""A send rate limit shared by every worker through Redis, counted in SMS segments.

GCRA with reservations: each send reserves the next free slot on one timeline per sender
(number or Messaging Service) and sleeps until it. Slots are spaced evenly (cost x 1/N seconds,
plus a 2% margin), so no one-second window ever holds more than N segments as the provider
sees them, and there are two Redis calls per send however many threads wait: the reservation,
and a gate just before sending that keeps a late waker from crowding the sends behind it.
Redis' clock is the only clock, so workers agree; tests hand in a clock and a sleeper instead, and
check the slots reserved (`acquire` returns the one it got) rather than how long the machine took.

Urgent sends (alerts, replies) go first: bulk sends (broadcasts) may not reserve more than a slot
or two ahead, and not at all while an urgent send is waiting, so a big broadcast never sits in
front of a new raid alert.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

from redis import Redis

# `now` is ARGV[n] in microseconds when a clock was handed in, else Redis' own clock. Flags hold the
# moment they end on that clock (their TTLs only collect garbage), so an injected clock decides alone.
_NOW = """
local function clock(arg)
  if arg ~= nil and arg ~= '' then return tonumber(arg) end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end
"""

_RESERVE = _NOW + """
local timeline, urgent_flag = KEYS[1], KEYS[2]
local interval, cost, bulk, horizon = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3] == '1', tonumber(ARGV[4])
local now = clock(ARGV[5])
local tat = tonumber(redis.call('GET', timeline) or '0')
if tat < now then tat = now end
if bulk then
  if tonumber(redis.call('GET', urgent_flag) or '0') > now then return {'-20000', string.format('%.0f', now)} end
  if tat - now > horizon then return {string.format('%.0f', -(tat - now - horizon)), string.format('%.0f', now)} end
else
  local until_ = tat + 50000
  redis.call('SET', urgent_flag, string.format('%.0f', until_), 'PX', math.floor((until_ - now) / 1000) + 1000)
end
local next_free = tat + cost * interval
redis.call('SET', timeline, string.format('%.0f', next_free), 'PX', math.floor((next_free - now) / 1000) + 1000)
return {string.format('%.0f', tat - now), string.format('%.0f', tat)}
"""


# The gate: right before sending, a thread that woke up late (the GIL, a slow moment) must not
# crowd the sends behind it. Each send passes only `cost x interval` after the previous one did.
_GATE = _NOW + """
local gate = KEYS[1]
local interval, cost = tonumber(ARGV[1]), tonumber(ARGV[2])
local now = clock(ARGV[3])
local open_at = tonumber(redis.call('GET', gate) or '0')
if now < open_at then return string.format('%.0f', open_at - now) end
local next_open = now + cost * interval
redis.call('SET', gate, string.format('%.0f', next_open), 'PX', math.floor((next_open - now) / 1000) + 1000)
return 0
"""


class RateLimiter:
    """`acquire` blocks until `cost` segments may be sent; a limit of 0 means unlimited.

    `clock` (seconds) and `sleep` are for tests: without a clock, Redis' TIME is the one clock every
    worker shares."""

    def __init__(self, redis: Redis, sender: str, segments_per_second: float, *, prefix: str = "",
                 margin: float = 0.02, clock: Callable[[], float] | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.limit = segments_per_second
        self._clock, self._sleep = clock, sleep
        self._redis = redis
        # The sender id is our own number or service, but hash it anyway: no numbers in Redis keys.
        tag = hashlib.sha256(sender.encode()).hexdigest()[:16]
        self._keys = [f"{prefix}rr:rate:{tag}", f"{prefix}rr:rate:{tag}:urgent"]
        self._gate_key = f"{prefix}rr:rate:{tag}:gate"
        # Slots are reserved 2% apart; the gate lets sends through 0.5% apart, so on-time sends
        # pass at once and only a late one pushes the next back.
        self.interval = 1 / segments_per_second * (1 + margin) if segments_per_second > 0 else 0.0
        self._interval_us = self.interval * 1_000_000
        self._gate_interval_us = 1_000_000 / segments_per_second * (1 + margin / 4) if segments_per_second > 0 else 0.0
        self._script = redis.register_script(_RESERVE) if segments_per_second > 0 else None
        self._gate = redis.register_script(_GATE) if segments_per_second > 0 else None

    def _now(self) -> str:
        return "" if self._clock is None else str(round(self._clock() * 1_000_000))

    def reserve(self, cost: int = 1, *, bulk: bool = False) -> tuple[float, float | None]:
        """One try at a slot: (seconds to wait, the slot's time), or (seconds until trying again,
        None) when a bulk send must step aside for urgent ones or would reserve too far ahead."""
        assert self._script is not None
        horizon = 2 * self._interval_us
        wait_us, slot_us = (int(v) for v in self._script(
            keys=self._keys, args=[self._interval_us, max(1, cost), int(bulk), horizon, self._now()]))
        if wait_us < 0:
            return -wait_us / 1_000_000, None
        return wait_us / 1_000_000, slot_us / 1_000_000

    def acquire(self, cost: int = 1, *, bulk: bool = False, ready: Callable[[], bool] | None = None) -> float | None:
        """Wait for a slot and return its time (on the limiter's clock); None when unlimited.

        `ready` is asked once the slot is reserved, while its wait runs down and before the gate:
        a check that takes a database round trip (is this broadcast text still wanted?) then adds
        no jitter between the gate and the send. When it says no, the gate is skipped."""
        if self._script is None or self._gate is None:
            if ready is not None:
                ready()
            return None
        cost = max(1, cost)
        while True:
            wait, slot = self.reserve(cost, bulk=bulk)
            if slot is not None:
                break
            self._sleep(wait)
        if ready is not None:
            started = time.monotonic()
            if not ready():
                return slot
            wait = max(0.0, wait - (time.monotonic() - started))
        if wait:
            self._sleep(wait)
        while wait_us := int(self._gate(keys=[self._gate_key], args=[self._gate_interval_us, cost, self._now()])):
            self._sleep(wait_us / 1_000_000)
        return slot

    def backlog(self) -> float:
        """Seconds of sending already reserved ahead of now, by every worker on this sender."""
        if self._script is None:
            return 0.0
        with self._redis.pipeline(transaction=False) as pipe:
            pipe.get(self._keys[0])
            pipe.time()
            reserved, (seconds, micros) = pipe.execute()
        now_us = round(self._clock() * 1_000_000) if self._clock is not None else int(seconds) * 1_000_000 + int(micros)
        return max(0.0, (float(reserved or 0) - now_us) / 1_000_000)
