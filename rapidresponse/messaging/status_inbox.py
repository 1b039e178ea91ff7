"""Status callbacks handed on from the webhook to a job, through two Redis lists.

Twilio sends two or more callbacks per text, so a 5,000-member alert brings 10,000+ of them within
seconds. Applying each inside its request (a database write per callback, competing with the
sender and with members' own texts for the write lock) made inbound texts wait seconds and
callbacks miss Twilio's 15 s. Instead the webhook does one Redis round trip: RPUSH the callback's
three fields (never a number or a body) onto `pending`, and SET NX a `scheduled` flag; whoever sets
the flag queues one drain job.

The drain moves a batch at a time from `pending` to `processing` (LMOVE, in a script that first
checks the drainer still holds the lock), applies the batch in one transaction, then clears
`processing`. A drainer that crashes leaves its batch in `processing`; the next drainer applies it
first. Applying twice is harmless (statuses never move backwards), so a crash loses nothing and
repeats nothing anyone can see. The sweep drains too, so a lost job or an expired flag only delays.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from functools import cached_property

from redis import Redis
from redis.commands.core import Script

from rapidresponse.messaging.delivery import StatusUpdate
from rapidresponse.services import Services

log = logging.getLogger(__name__)

# Small enough that one batch's transaction holds SQLite's write lock for a moment only (a
# member's text waits for it), large enough to save thousands of commits during a fan-out.
BATCH = 100
# Between full batches the drainer lets go of the database for a moment: SQLite's waiting writers
# poll, and a drainer committing back to back would keep a member's text waiting for its turn.
BATCH_PAUSE_SECONDS = 0.02
LOCK_MS = 60_000
SCHEDULED_SECONDS = 60

_MOVE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return false end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
local moved = {}
for i = 1, tonumber(ARGV[3]) do
  local item = redis.call('LMOVE', KEYS[2], KEYS[3], 'LEFT', 'RIGHT')
  if not item then break end
  moved[#moved + 1] = item
end
return moved
"""
_ACK = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[2])
return 1
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
"""


class StatusInbox:
    def __init__(self, redis: Redis, prefix: str = "", *, batch: int = BATCH, lock_ms: int = LOCK_MS,
                 pause: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic) -> None:
        self.redis, self.batch, self.lock_ms, self.pause, self.clock = redis, batch, lock_ms, pause, clock
        base = f"{prefix}rr:status-callbacks"
        self.pending, self.processing = f"{base}:pending", f"{base}:processing"
        self.lock, self.scheduled = f"{base}:lock", f"{base}:scheduled"

    # The drainer's scripts, made when it first needs them: a webhook's push (one per status
    # callback, on a StatusInbox of its own) never does.
    @cached_property
    def _move(self) -> Script:
        return self.redis.register_script(_MOVE)

    @cached_property
    def _ack(self) -> Script:
        return self.redis.register_script(_ACK)

    @cached_property
    def _release(self) -> Script:
        return self.redis.register_script(_RELEASE)

    @classmethod
    def of(cls, svc: Services) -> StatusInbox:
        return cls(svc.redis, svc.settings.queue_prefix)

    def push(self, update: StatusUpdate) -> bool:
        """Hand one callback on. True when the caller should queue a drain job (nobody has yet)."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.rpush(self.pending, update.encode())
        pipe.set(self.scheduled, "1", nx=True, ex=SCHEDULED_SECONDS)
        _, scheduled = pipe.execute()
        return bool(scheduled)

    def schedule(self) -> bool:
        """True when callbacks wait and nobody has queued a drain for them yet (the caller should)."""
        return bool(self.redis.llen(self.pending)) and bool(
            self.redis.set(self.scheduled, "1", nx=True, ex=SCHEDULED_SECONDS))

    def waiting(self) -> int:
        return int(self.redis.llen(self.pending)) + int(self.redis.llen(self.processing))

    def drain(self, apply: Callable[[Sequence[StatusUpdate]], object], *, budget: float | None = None) -> int:
        """Apply everything waiting, a batch at a time; returns how many callbacks were applied.

        Only one drainer works at a time (others return 0 at once: the one working sees their
        callbacks too). If `apply` raises, the batch stays in `processing` for the next drainer.
        With a `budget` (seconds) it stops after the batch that used it up, even with callbacks
        still arriving (a fan-out's keep coming for as long as it sends): see `schedule`.
        """
        done = 0
        deadline = None if budget is None else self.clock() + budget
        while True:
            token = uuid.uuid4().hex
            if not self.redis.set(self.lock, token, nx=True, px=self.lock_ms):
                return done
            try:
                # From here on a new callback schedules a new job, so none waits for an expired flag.
                self.redis.delete(self.scheduled)
                done += self._drain_locked(token, apply, deadline)
            finally:
                self._release(keys=[self.lock], args=[token])
            # A callback pushed while we held the lock, whose job found it taken, is seen here.
            if not self.redis.llen(self.pending) or self._spent(deadline):
                return done

    def _spent(self, deadline: float | None) -> bool:
        return deadline is not None and self.clock() >= deadline

    def _drain_locked(self, token: str, apply: Callable[[Sequence[StatusUpdate]], object],
                      deadline: float | None = None) -> int:
        done = 0
        left_behind = self.redis.lrange(self.processing, 0, -1)  # a crashed drainer's last batch
        if left_behind:
            log.warning("applying %d status callbacks a stopped drainer left behind", len(left_behind))
            done += self._apply(token, left_behind, apply)
        while True:
            moved = self._move(keys=[self.lock, self.pending, self.processing],
                               args=[token, self.lock_ms, self.batch])
            if moved is None:
                log.warning("status callback drain lost its lock; the next drainer takes over")
                return done
            if not moved:
                return done
            done += self._apply(token, moved, apply)
            if self._spent(deadline):
                return done
            if len(moved) == self.batch:
                self.pause(BATCH_PAUSE_SECONDS)

    def _apply(self, token: str, raw: Sequence[bytes | str], apply: Callable[[Sequence[StatusUpdate]], object]) -> int:
        updates = [u for u in (StatusUpdate.decode(r) for r in raw) if u is not None]
        apply(updates)
        self._ack(keys=[self.lock, self.processing], args=[token])
        return len(raw)
