"""Sending recorded texts: claim, send many at once within the rate limit, record the outcome.

Exactly once: a text is claimed (PENDING -> SENDING) in the database before the provider is
called, and its provider id is recorded after. A claim older than the lease belongs to a worker
that died; it is reconciled with the provider's own record before anything is sent again.

Reconciliation is not the only guard, because a live worker's claim can look dead (it waited its
turn at a rate limit shared by many workers). So:
- every claim bumps `attempts`, which is its fencing token: whoever claimed last owns the text;
- a worker renews the leases of the claims it holds while they wait (`renew_leases`);
- right before calling the provider, a worker checks it still owns the claim (a conditional
  UPDATE on the token, which also renews the lease) unless its lease is certainly still good;
- it claims only what the shared rate limit can send well within the lease.
The send call times out (SEND_TIMEOUT_SECONDS) well inside the lease, so once the check passed
nobody can take the claim before the call is over.

An alert call is a row like a text (channel `voice`): the same claim, fencing, leases and
reconciliation (by the provider's list of calls to the number), placed through
`provider.place_call` with the alert call's TwiML, at a rate limit of its own (CALLS_PER_SECOND).
Texts and calls in one job are claimed in two lanes, each sized by its own limit, so slow calls
never hold texts back nor texts calls.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from random import Random
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, tuple_, update
from sqlalchemy.orm import Session

from rapidresponse.alertcalls import service as alertcalls
from rapidresponse.alertcalls import twiml as call_twiml
from rapidresponse.campaigns import twiml as campaign_twiml
from rapidresponse.db import unindexed, utcnow
from rapidresponse.i18n import say_options
from rapidresponse.incidents.models import Acknowledgement, Incident, IncidentLayer, Participant, ThreadEvent
from rapidresponse.incidents.service import participant_tag
from rapidresponse.members.models import CALLABLE_CODES, Member, MemberStatus
from rapidresponse.messaging.models import Channel, DeliveryStatus, OutboundMessage, Purpose
from rapidresponse.messaging.provider import INVALID_NUMBER, NOT_MOBILE, OPTED_OUT, ProviderError, SentText
from rapidresponse.messaging.ratelimit import RateLimiter
from rapidresponse.messaging.retry import next_attempt
from rapidresponse.privacy.masking import mask_phone
from rapidresponse.services import Services

log = logging.getLogger(__name__)

BULK_PURPOSES = frozenset({Purpose.BROADCAST.value, Purpose.WELCOME.value, Purpose.DUTY.value})
# Texts that still go to someone who opted out: only the confirmation of the opt-out itself.
ALWAYS_DELIVER = frozenset({Purpose.REPLY.value})
_OUTBOX = cast(Table, OutboundMessage.__table__)
_LAYERS = cast(Table, IncidentLayer.__table__)
# Built once: composing it for every claim cost more than running it.
_MARK_SENDING = _LAYERS.update().where(
    _LAYERS.c.incident_id == bindparam("incident"), _LAYERS.c.number == bindparam("layer"),
    _LAYERS.c.sending_at.is_(None) | (_LAYERS.c.sending_at < bindparam("fresh"))).values(sending_at=bindparam("now"))
_c = _OUTBOX.c
_members = cast(Table, Member.__table__).c
# The claim's and the record's statements, also built once. Each UPDATE finds its rows by primary
# key (`unindexed` keeps SQLite off the status index, which would scan every pending text of a
# 100,000-member layer for each chunk); each claim bumps `attempts`, the claim's fencing token.
# Claims abandoned by a dead worker (the provider may have the text already):
_RECLAIM = (_OUTBOX.update()
            .where(_c.id.in_(bindparam("ids", expanding=True)),
                   unindexed(_c.status) == DeliveryStatus.SENDING.value, _c.claimed_at <= bindparam("stale"))
            .values(claimed_at=bindparam("now"), attempts=_c.attempts + 1)
            .returning(_c.id, _c.attempts))
_CLAIM = (_OUTBOX.update()
          .where(_c.id.in_(bindparam("ids", expanding=True)), unindexed(_c.status) == DeliveryStatus.PENDING.value)
          .values(status=DeliveryStatus.SENDING.value, claimed_at=bindparam("now"), attempts=_c.attempts + 1)
          .returning(_c.id, _c.attempts))
_CLAIMED_ROWS = (select(_c.id, _c.to_token, _c.body_token, _c.segments, _c.purpose, _c.valid_until, _c.incident_id,
                        _c.member_id, _c.layer, _c.channel, _members.status.label("member_status"),
                        _members.undeliverable_code, _members.language)
                 .select_from(_OUTBOX.outerjoin(Member.__table__, _members.id == _c.member_id))
                 .where(_c.id.in_(bindparam("ids", expanding=True)))
                 .order_by(_c.id))
_STILL_OURS = (_OUTBOX.update()
               .where(_c.id == bindparam("mid"), _c.attempts == bindparam("tok"),
                      _c.status == DeliveryStatus.SENDING.value)
               .values(claimed_at=bindparam("now"))
               .returning(_c.id))
# A status callback may already have moved a sent text on, and only our own claim is recorded (a
# reconciling worker may have recorded it). A broadcast cancelled after our last check was still
# sent: the record says so.
_RECORD_SENT = (_OUTBOX.update()
                .where(_c.id == bindparam("mid"), _c.attempts == bindparam("tok"),
                       (_c.status == DeliveryStatus.SENDING.value) | (_c.status == DeliveryStatus.CANCELLED.value))
                .values(status=DeliveryStatus.QUEUED.value, provider_sid=bindparam("sid"), sent_at=bindparam("now"),
                        status_at=bindparam("now"), error_code=None))


@dataclass
class Outcome:
    sent: int = 0
    failed: int = 0
    expired: int = 0
    cancelled: int = 0
    reconciled: int = 0
    retry: list[int] = field(default_factory=list)  # temporary failures: send again later
    retry_at: datetime | None = None  # when: the latest any of them asked for (backoff, Retry-After)
    ambiguous: int = 0
    deferred: list[int] = field(default_factory=list)  # not claimed: gave way to urgent work
    handed_off: int = 0  # slow calls left to finish and record themselves after the job
    taken_over: int = 0  # our claim was taken by another worker before we sent: not ours to send
    calls: list[int] = field(default_factory=list)  # alert calls recorded for texts that failed for good


@dataclass(slots=True)  # not frozen: a frozen dataclass sets each of its fields through object.__setattr__
class _Claimed:
    id: int
    token: int  # `attempts` as this claim set it: the fencing token
    to: str
    body: str
    segments: int
    bulk: bool
    valid_until: datetime | None
    # For the thread line written once it is sent.
    purpose: str
    incident_id: int | None
    member_id: int | None
    layer: int | None
    channel: str = Channel.SMS.value
    language: str = "en"

    @property
    def is_call(self) -> bool:
        return self.channel == Channel.VOICE.value


@dataclass
class _Lane:
    """The ids of one channel in a send job, claimed in order at that channel's rate."""

    ids: list[int]
    calls: bool
    start: int = 0
    in_flight: int = 0

    @property
    def left(self) -> int:
        return max(0, len(self.ids) - self.start)


class _Leases:
    """The claims one sender holds: id -> (fencing token, when the lease was last known good)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[int, tuple[int, datetime]] = {}

    def hold(self, message_id: int, token: int, since: datetime) -> None:
        with self._lock:
            self._held[message_id] = (token, since)

    def release(self, ids: Sequence[int]) -> None:
        with self._lock:
            for message_id in ids:
                self._held.pop(message_id, None)

    def since(self, message_id: int) -> datetime | None:
        with self._lock:
            held = self._held.get(message_id)
        return None if held is None else held[1]

    def renewed(self, ids: Sequence[int], at: datetime) -> None:
        with self._lock:
            for message_id in ids:
                if message_id in self._held:
                    self._held[message_id] = (self._held[message_id][0], at)

    def tokens(self) -> list[tuple[int, int]]:
        with self._lock:
            return [(message_id, token) for message_id, (token, _) in self._held.items()]

    def __len__(self) -> int:
        with self._lock:
            return len(self._held)


_Result = SentText | ProviderError | None


class _Batch:
    """One `send` call's texts on the wire: the sending threads hand each outcome back here, or,
    once the call has moved on without them (`hand_off`), record it themselves."""

    def __init__(self, record_late: Callable[[_Claimed, _Result], None]) -> None:
        self.results: queue.SimpleQueue[tuple[_Claimed, _Result]] = queue.SimpleQueue()
        self._record_late = record_late
        self._lock = threading.Lock()
        self._handed_off = False

    def done(self, text: _Claimed, result: _Result) -> None:
        with self._lock:
            if not self._handed_off:
                self.results.put((text, result))
                return
        self._record_late(text, result)

    def hand_off(self) -> list[tuple[_Claimed, _Result]]:
        """From now on the threads record what they finish; returns what finished before that."""
        with self._lock:
            self._handed_off = True
        finished = []
        while True:
            try:
                finished.append(self.results.get_nowait())
            except queue.Empty:
                return finished


class _Width:
    """How many of the sending threads take texts: as many as keep the provider busy, no more.

    Threads wait for the provider's answer without the GIL, so when it answers slowly (Twilio:
    100-300 ms) every thread is worth having; when it answers at once they only take turns on the
    GIL, and each one more costs CPU per text in thread switches (the twilio SDK alone, sending to
    a loopback fake from one process: 0.94-0.99 ms of CPU per text from 8 threads, 1.28-1.62 from 50).
    Little's law gives the width that keeps a process busy: the time a send takes at the least
    (its wall time when it waited for nobody, nearly the provider's own time) over the CPU time the
    process spends per text sent, plus one; twice that, as the CPU per text counts all the
    process does (claims, records), not only what holds the GIL. So while texts wait for a thread,
    each quarter second or so the width moves to that figure, narrowing by half at most and
    widening at once; when nothing at all finished for a fifth of a second (calls hanging, a
    provider slowing down) it doubles. The quickest send of a window is used, not the mean: a
    provider's latency varies a lot, but the quickest send is what it takes at the least, while
    the mean grows with the width itself when the threads wait for the GIL. With a send rate
    limit, the limit paces sending and the waiting threads sleep: the width stays whole. Threads
    beyond the width wait on a condition, not on the queue, and cost nothing; which texts go, and
    how often, is not touched by any of this."""

    def __init__(self, most: int, *, adapt: bool) -> None:
        self.most = most
        self.now = most
        self._least = min(most, 2)
        self._adapt = adapt
        self._changed = threading.Condition()
        self._stopping = False
        self._lock = threading.Lock()
        self._done = 0  # texts finished in the window being measured
        self._started: tuple[float, float] | None = None  # (monotonic, process CPU) when it started
        self.quickest = float("inf")  # the quickest send of the window (seconds), from the threads

    def park(self, index: int) -> None:
        """Called by sending thread `index` before it takes a text: waits while it is beyond the width."""
        with self._changed:
            while index >= self.now and not self._stopping:
                self._changed.wait()

    def _set(self, width: int) -> None:
        with self._changed:
            widened = width > self.now
            self.now = width
            if widened:
                self._changed.notify_all()

    def stop(self) -> None:
        with self._changed:
            self._stopping = True
            self._changed.notify_all()

    def took(self, seconds: float) -> None:
        """A sending thread's send took this long (a race between threads only loses a sample)."""
        if seconds < self.quickest:
            self.quickest = seconds

    def stalled(self) -> None:
        """Nothing finished for a while although texts wait for a thread: twice the width."""
        with self._lock:
            self._started = None
            if self.now < self.most:
                self._set(min(self.most, self.now * 2))

    def finished(self, count: int, at: float, waiting: bool) -> None:
        """`count` texts finished by `at` (monotonic seconds); `waiting`: texts still wait for a thread.
        Only windows in which texts waited all along say what the width can send."""
        if not self._adapt:
            return
        with self._lock:
            if not waiting or self._started is None:
                self._started = (at, time.process_time()) if waiting else None
                self._done, self.quickest = 0, float("inf")
                return
            self._done += count
            started, cpu_started = self._started
            if self._done < 32 or at - started < _WIDTH_WINDOW:
                return
            cpu = time.process_time()
            per_text = (cpu - cpu_started) / self._done
            quickest = self.quickest
            self._started, self._done, self.quickest = (at, cpu), 0, float("inf")
            if per_text <= 0 or quickest == float("inf"):
                return
            target = max(self._least, min(self.most, math.ceil(2 * quickest / per_text) + 1))
            if target != self.now:
                self._set(max(target, self.now // 2))


# The shortest time over which the sending rate is measured (seconds): shorter, the pauses of the
# job's own thread (a claim, a record) weigh too much in the CPU per text.
_WIDTH_WINDOW = 0.25
# Outcomes are recorded in groups, at least this often (seconds), while texts are on the wire.
_RECORD_EVERY = 0.2
# Once all is claimed, calls still out after this long without any finishing are left to record
# themselves (seconds).
_STRAGGLERS_AFTER = 1.0
# Time kept in hand when deciding that a lease is certainly still ours (clock steps, a slow commit).
_SLACK = timedelta(seconds=1)


def status_callback_url(svc: Services, message_id: int) -> str:
    # Our own id rides in the URL so a callback that beats the recorded SID still finds its text.
    return f"{svc.settings.status_base_url}/twilio/status?m={message_id}"


def call_status_callback_url(svc: Services, message_id: int) -> str:
    return f"{svc.settings.status_base_url}/twilio/voice/status?m={message_id}"


# Calls leave 15% of every second free (texts 2%): a call that reaches the provider late (a thread
# woken late, a slow connection: 20-50 ms measured on a loaded 2-core machine) must still never put
# more than CALLS_PER_SECOND calls in one second there. Calls are few, so the margin costs little.
CALL_MARGIN = 0.15


class Sender:
    def __init__(self, svc: Services, *, clock: Callable[[], datetime] = utcnow, rng: Random | None = None,
                 stragglers_after: float | None = None) -> None:
        self.svc = svc
        self.clock = clock
        # Real seconds, not the injected clock: how long calls on the wire may go without any of
        # them finishing before they are left to record themselves. A test that holds a send open
        # on purpose raises it, so a slow machine does not turn its send into a late record.
        self.stragglers_after = _STRAGGLERS_AFTER if stragglers_after is None else stragglers_after
        self.rng = rng or Random()  # noqa: S311 - jitter for retries, not a secret
        settings = svc.settings
        self.limiter = RateLimiter(svc.redis, settings.sender_id, settings.send_rate_segments_per_second,
                                   prefix=settings.queue_prefix)
        # Calls have their own timeline: Twilio counts calls per second apart from texts.
        self.call_limiter = RateLimiter(svc.redis, settings.call_sender_id, settings.calls_per_second,
                                        prefix=settings.queue_prefix, margin=CALL_MARGIN)
        self.lease = timedelta(seconds=settings.send_lease_seconds)
        self.send_timeout = timedelta(seconds=settings.send_timeout_seconds)
        # Claim no more than can be sent well within the lease at the configured rate.
        self.rate = rate = settings.send_rate_segments_per_second
        self.chunk = settings.send_concurrency * 2 if rate <= 0 else max(
            1, min(settings.send_concurrency * 2, int(rate * settings.send_lease_seconds / 4)))
        # The sending threads, started on first use, each taking one text at a time from `_work`: a
        # queue rather than a future per text (a future's condition and its waiters cost as much as
        # a tenth of the workers' CPU per text when the provider answers at once).
        self._concurrency = settings.send_concurrency
        self._width = _Width(settings.send_concurrency, adapt=rate <= 0)
        self._work: queue.SimpleQueue[tuple[_Claimed, _Batch] | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._threads_lock = threading.Lock()
        self._leases = _Leases()
        self._stop = threading.Event()
        self._keeper: threading.Thread | None = None

    def close(self) -> None:
        self._stop.set()
        self._width.stop()
        with self._threads_lock:
            threads, self._threads = self._threads, []
        for _ in threads:
            self._work.put(None)  # after every text already queued: those are still sent
        for thread in threads:
            thread.join()
        if self._keeper is not None:
            self._keeper.join()

    def renew_leases(self) -> int:
        """Renew the lease of every claim this sender still holds (texts waiting for their turn
        at the rate limit, or whose outcome is not recorded yet), so the sweep never takes a live
        worker's claim for a dead one's. Returns how many were renewed."""
        held = self._leases.tokens()
        renewed: list[int] = []
        now = self.clock()
        with self.svc.db.session() as session:
            for start in range(0, len(held), 500):
                chunk = held[start : start + 500]
                renewed.extend(session.scalars(
                    update(OutboundMessage)
                    # `id IN` too: SQLite scans the whole table for a row-value IN alone.
                    .where(OutboundMessage.id.in_([message_id for message_id, _ in chunk]),
                           tuple_(OutboundMessage.id, OutboundMessage.attempts).in_(chunk),
                           unindexed(OutboundMessage.status) == DeliveryStatus.SENDING.value)
                    .values(claimed_at=now)
                    .returning(OutboundMessage.id)
                ).all())
        self._leases.renewed(renewed, now)
        return len(renewed)

    def _keep_leases(self) -> None:
        interval = self.lease.total_seconds() / 4
        while not self._stop.wait(interval):
            if not len(self._leases):
                continue
            try:
                self.renew_leases()
            except Exception:  # noqa: BLE001 - a bad moment must not end the renewals
                log.exception("could not renew send leases")

    def _start_keeper(self) -> None:
        if self._keeper is None:
            self._keeper = threading.Thread(target=self._keep_leases, name="send-leases", daemon=True)
            self._keeper.start()

    def _claim_size(self, calls: bool = False) -> int:
        """How many texts (or calls) to claim now: what the shared rate limit can send within half a
        lease, after what every worker has already reserved (at least one, at most a chunk)."""
        rate, limiter = (self.svc.settings.calls_per_second, self.call_limiter) if calls else (self.rate, self.limiter)
        if rate <= 0:
            return self.chunk
        room = self.lease.total_seconds() / 2 - limiter.backlog()
        return max(1, min(self.chunk, int(room * rate)))

    def _lanes(self, ids: Sequence[int]) -> list[_Lane]:
        """The job's ids split by channel, each in the order given: calls first, as they ring longest."""
        calls: set[int] = set()
        with self.svc.db.session() as session:
            for start in range(0, len(ids), 500):
                calls.update(session.scalars(select(OutboundMessage.id).where(
                    OutboundMessage.id.in_(ids[start : start + 500]),
                    OutboundMessage.channel == Channel.VOICE.value)).all())
        lanes = [_Lane([i for i in ids if i in calls], calls=True),
                 _Lane([i for i in ids if i not in calls], calls=False)]
        return [lane for lane in lanes if lane.ids]

    def send(self, ids: Sequence[int], *, give_way: Callable[[], bool] | None = None) -> Outcome:
        """Send with the pool kept full: each text is submitted on its own and recorded as soon as
        it is done, and more are claimed as room frees up, so a call that hangs holds one thread,
        never a whole chunk. Up to two chunks are in flight; outcomes are recorded in groups.
        Once everything is claimed, calls still out after a second without progress are left to
        finish on their own (each records itself, `outcome.handed_off`), so the worker can take
        its next job instead of waiting for a few slow calls.

        `give_way` is asked before each further claim (bulk work asks whether urgent work is
        waiting); when it says yes, the rest is left unclaimed in `outcome.deferred`.
        """
        outcome = Outcome()
        batch = _Batch(self._record_late)
        in_flight: dict[int, _Claimed] = {}
        done: list[tuple[_Claimed, _Result]] = []
        window = self.chunk * 2
        lanes = self._lanes(ids)
        claimed_any = False
        last_recorded = last_progress = time.monotonic()

        def finished(text: _Claimed, result: _Result) -> None:
            del in_flight[text.id]
            done.append((text, result))
            for lane in lanes:
                if lane.calls == text.is_call:
                    lane.in_flight -= 1

        try:
            while True:
                for lane in lanes:
                    # Claim more once there is room for at least half a chunk (fewer, larger claims).
                    while lane.left and window - lane.in_flight >= min(max(1, self.chunk // 2), lane.left):
                        if claimed_any and give_way is not None and give_way():
                            outcome.deferred = [i for each in lanes for i in each.ids[each.start :]]
                            for each in lanes:
                                each.start = len(each.ids)
                            break
                        size = min(self._claim_size(lane.calls), window - lane.in_flight)
                        with self.svc.db.session() as session:
                            claimed = self._claim(session, lane.ids[lane.start : lane.start + size], outcome)
                        lane.start = min(len(lane.ids), lane.start + size)
                        claimed_any = True
                        if claimed:
                            self._start_threads()
                        for text in claimed:
                            in_flight[text.id] = text
                            self._work.put((text, batch))
                            lane.in_flight += 1
                if not in_flight and not done:
                    return outcome
                if in_flight:
                    before = len(done)
                    try:
                        finished(*batch.results.get(timeout=_RECORD_EVERY))
                        while True:
                            finished(*batch.results.get_nowait())
                    except queue.Empty:
                        pass
                    waiting = not self._work.empty()
                    if len(done) > before:
                        self._width.finished(len(done) - before, time.monotonic(), waiting)
                    elif waiting:
                        self._width.stalled()
                    if done:
                        last_progress = time.monotonic()
                    elif (not any(lane.left for lane in lanes)
                          and time.monotonic() - last_progress >= self.stragglers_after):
                        for text, result in batch.hand_off():
                            finished(text, result)
                        outcome.handed_off = len(in_flight)
                        in_flight.clear()
                        for lane in lanes:
                            lane.in_flight = 0
                if done and (not in_flight or len(done) >= self.chunk // 2
                             or time.monotonic() - last_recorded >= _RECORD_EVERY):
                    self._record_done(done, outcome)
                    done = []
                    last_recorded = time.monotonic()
        except BaseException:
            # The job failed (the database went away?): stop renewing what it holds, so those texts
            # are reconciled and sent by whoever runs next, once their lease runs out.
            self._leases.release([text.id for text in in_flight.values()] + [text.id for text, _ in done])
            raise

    def _start_threads(self) -> None:
        with self._threads_lock:
            while len(self._threads) < self._concurrency and not self._stop.is_set():
                index = len(self._threads)
                thread = threading.Thread(target=self._send_loop, args=(index,), name=f"send_{index}", daemon=True)
                thread.start()
                self._threads.append(thread)

    def _send_loop(self, index: int) -> None:
        """A sending thread: one text at a time, its outcome handed back to the `send` it came from;
        it waits aside while it is beyond the width (`_Width`)."""
        try:
            self.svc.provider.prepare_thread()
        except Exception:  # noqa: BLE001 - the first send builds what is missing, or reports why not
            log.exception("could not prepare a sending thread")
        width = self._width
        while True:
            if index >= width.now:
                width.park(index)
            item = self._work.get()
            if item is None:
                return
            text, batch = item
            batch.done(text, self._send_one(text))

    def _record_late(self, text: _Claimed, result: _Result) -> None:
        """A slow call's outcome, recorded by the thread that made it (see `send`). A retry is left
        to the sweep, at the time the backoff chose."""
        try:
            with self.svc.db.session() as session:
                self._record(session, [text], [result], Outcome())
        except Exception:  # noqa: BLE001 - the text stays claimed and is reconciled after its lease
            log.exception("could not record the outcome of message %s", text.id)
        finally:
            self._leases.release([text.id])

    def _record_done(self, done: list[tuple[_Claimed, _Result]], outcome: Outcome) -> None:
        try:
            with self.svc.db.session() as session:
                self._record(session, [text for text, _ in done], [result for _, result in done], outcome)
        finally:
            self._leases.release([text.id for text, _ in done])

    def _claim(self, session: Session, ids: list[int], outcome: Outcome) -> list[_Claimed]:
        # The statements are _RECLAIM, _CLAIM and _CLAIMED_ROWS, on the table, not the ORM class:
        # nothing of these rows is loaded in this session yet, so the ORM's bulk-update bookkeeping
        # (synchronizing loaded objects) is pure cost per chunk.
        now = self.clock()
        connection = session.connection()
        tokens: dict[int, int] = dict(connection.execute(  # type: ignore[arg-type]
            _RECLAIM, {"ids": ids, "stale": now - self.lease, "now": now}).all())
        reclaimed = set(tokens)
        fresh_tokens: dict[int, int] = dict(connection.execute(  # type: ignore[arg-type]
            _CLAIM, {"ids": ids, "now": now}).all())
        fresh = set(fresh_tokens)
        tokens.update(fresh_tokens)
        if not reclaimed and not fresh:
            return []
        # Plain columns, not ORM objects: loading a whole row per text (every date parsed) was a
        # tenth of the workers' CPU per text. The rare text that must be changed here (reconciled,
        # expired, cancelled) is loaded on its own.
        rows = list(connection.execute(_CLAIMED_ROWS, {"ids": sorted(reclaimed | fresh)}).all())
        order = {message_id: i for i, message_id in enumerate(ids)}
        rows.sort(key=lambda row: order[row.id])
        answered = self._answered_calls(session, rows)
        claimed: list[_Claimed] = []
        cipher = self.svc.cipher
        bodies: dict[bytes, str] = {}  # an alert's members share one body token (outbox.record)
        for row in rows:
            to = cipher.decrypt(row.to_token)
            token = bytes(row.body_token)
            body = bodies[token] if token in bodies else bodies.setdefault(token, cipher.decrypt(token))
            if row.id in reclaimed:
                try:
                    if self._reconcile(self._load(session, row.id), to, body):
                        outcome.reconciled += 1
                        continue
                except ProviderError:
                    # Cannot tell whether the dead worker sent it: keep the claim (renewed above)
                    # and look again after another lease, without holding up the fresh texts.
                    log.warning("reconcile failed for message %s to %s; will retry", row.id, mask_phone(to))
                    outcome.ambiguous += 1
                    continue
            if row.valid_until is not None and row.valid_until <= now:
                self._finish(self._load(session, row.id), DeliveryStatus.EXPIRED, now)
                outcome.expired += 1
                continue
            is_call = row.channel == Channel.VOICE.value
            undeliverable = row.undeliverable_code
            # A landline cannot get a text but answers a call.
            dead = undeliverable is not None and not (is_call and undeliverable in CALLABLE_CODES)
            blocked = row.member_status == MemberStatus.OPTED_OUT.value or dead
            if (blocked and (row.purpose not in ALWAYS_DELIVER or is_call)) or row.id in answered:
                self._finish(self._load(session, row.id), DeliveryStatus.CANCELLED, now)
                outcome.cancelled += 1
                continue
            claimed.append(_Claimed(row.id, tokens[row.id], to, body, row.segments,
                                    row.purpose in BULK_PURPOSES, row.valid_until, row.purpose,
                                    row.incident_id, row.member_id, row.layer, row.channel,
                                    row.language or "en"))
        if claimed:
            for text in claimed:
                self._leases.hold(text.id, text.token, now)
            self._start_keeper()
            self._layers_sending(session, claimed, now)
        return claimed

    @staticmethod
    def _load(session: Session, message_id: int) -> OutboundMessage:
        message = session.get(OutboundMessage, message_id)
        assert message is not None  # claimed by us in this very transaction
        return message

    def _layers_sending(self, session: Session, claimed: list[_Claimed], now: datetime) -> None:
        """Each claim is a sign of life of its layer's fan-out: the sweep leaves the layer's texts
        still waiting in the queue alone while chunks keep being claimed (escalation.pending_sends).
        Written at most every quarter lease, so claims seldom wait on the layer's row (which the
        layer's planner also writes)."""
        fresh = now - self.lease / 4
        for incident_id, number in sorted({(t.incident_id, t.layer) for t in claimed
                                           if t.incident_id is not None and t.layer is not None}):
            session.connection().execute(_MARK_SENDING, {"incident": incident_id, "layer": number,
                                                         "fresh": fresh, "now": now})

    def _answered_calls(self, session: Session, messages: Sequence[Any]) -> set[int]:
        """Alert calls not worth placing any more: the member already answered (by text, or on another
        call) or the incident closed. A phone that rings after its owner said YES only wastes their time."""
        calls = [m for m in messages if m.channel == Channel.VOICE.value and m.purpose == Purpose.ALERT.value
                 and m.incident_id is not None and m.member_id is not None]
        if not calls:
            return set()
        closed = set(session.scalars(select(Incident.id).where(
            Incident.id.in_({m.incident_id for m in calls}), Incident.closed_at.is_not(None))).all())
        tags = {m.id: participant_tag(self.svc.cipher, m.incident_id, m.member_id) for m in calls  # type: ignore[arg-type]
                if m.incident_id not in closed}
        said = set(session.execute(
            select(Participant.incident_id, Participant.member_tag).join(
                Acknowledgement, Acknowledgement.participant_id == Participant.id)
            .where(Participant.member_tag.in_(tags.values()))).all()) if tags else set()
        return {m.id for m in calls if m.incident_id in closed or (m.incident_id, tags.get(m.id)) in said}

    def _reconcile(self, message: OutboundMessage, to: str, body: str) -> bool:
        """True when the provider already has this text (the dead worker did send it)."""
        if message.channel == Channel.VOICE.value:
            return self._reconcile_call(message, to)
        found = self.svc.provider.find_sent(to, message.created_at - timedelta(minutes=1))
        for text in found:
            if text.body == body:
                message.provider_sid = text.sid
                self._finish(message, DeliveryStatus.QUEUED, self.clock())
                return True
        return False

    def _reconcile_call(self, message: OutboundMessage, to: str) -> bool:
        """True when the provider has a call to this number, placed since the intent was recorded, that
        no other message of ours accounts for: the dead worker placed it. A call has no body to match,
        so any such call counts; one call too few is better than ringing a member twice."""
        found = self.svc.provider.find_calls(to, message.created_at - timedelta(minutes=1))
        if not found:
            return False
        session = Session.object_session(message)
        assert session is not None
        known = set(session.scalars(select(OutboundMessage.provider_sid).where(
            OutboundMessage.provider_sid.in_([call.sid for call in found]))).all())
        for call in found:
            if call.sid not in known:
                message.provider_sid = call.sid
                self._finish(message, DeliveryStatus.QUEUED, self.clock())
                return True
        return False

    @staticmethod
    def _finish(message: OutboundMessage, status: DeliveryStatus, now: datetime) -> None:
        message.status = status.value
        message.status_at = now

    def _still_ours(self, text: _Claimed) -> bool:
        """True when this claim is still ours and will stay ours until the send call is over.

        Without a database round trip when the lease was renewed recently enough that nobody can
        take it before the call times out; otherwise a conditional UPDATE on the fencing token,
        which renews the lease as it checks it. Bulk texts are always checked: a cancelled
        broadcast flips its waiting claims to CANCELLED, and this check is what keeps them unsent.
        """
        now = self.clock()
        since = self._leases.since(text.id)
        if not text.bulk and since is not None and now - since + self.send_timeout + _SLACK < self.lease:
            return True
        with self.svc.db.session() as session:
            still = session.connection().execute(
                _STILL_OURS, {"mid": text.id, "tok": text.token, "now": now}).first() is not None
        if still:
            self._leases.renewed([text.id], now)
        return still

    def _send_one(self, text: _Claimed) -> _Result:
        """Send one claimed text; None when another worker took the claim meanwhile."""
        try:
            checked: list[bool] = []

            def ready() -> bool:
                checked.append(self._still_ours(text))
                return checked[-1]

            # Bulk texts are checked against the database once their slot is reserved, before the
            # gate, so that round trip never delays a send the gate has let through.
            (self.call_limiter if text.is_call else self.limiter).acquire(
                text.segments, bulk=text.bulk, ready=ready if text.bulk else None)
            if not (checked[-1] if checked else self._still_ours(text)):
                log.warning("message %s: claim taken by another worker while waiting; not sent here", text.id)
                return None
            validity = None
            if text.valid_until is not None:
                validity = int((text.valid_until - self.clock()).total_seconds())
                if validity < 1:
                    return ProviderError("validity period ran out before sending", code=30036)
            if text.is_call:
                return self._place_call(text)
            callback = status_callback_url(self.svc, text.id)
            started = time.monotonic()
            sent = self.svc.provider.send_sms(text.to, text.body, status_callback=callback, validity_period=validity)
            self._width.took(time.monotonic() - started)
            return sent
        except ProviderError as exc:
            return exc
        except Exception as exc:  # noqa: BLE001 - a bug or outage must not lose the batch
            log.exception("unexpected error sending message %s", text.id)
            return ProviderError(f"unexpected {type(exc).__name__}", ambiguous=True)

    def _place_call(self, text: _Claimed) -> SentText:
        """The alert call: its words spoken in the member's language, then one key gathered. A
        campaign call speaks its script's first line, then asks the bridge where to connect."""
        if text.purpose == Purpose.CAMPAIGN_CALL.value:
            bridge = campaign_twiml.bridge_url(self.svc.settings.public_base_url, text.id)
            twiml = campaign_twiml.opening(text.body, say_options(text.language), bridge)
        else:
            action = call_twiml.action_url(self.svc.settings.public_base_url, text.id, 1)
            twiml = call_twiml.alert(text.body, say_options(text.language), action)
        sid = self.svc.provider.place_call(text.to, twiml=twiml,
                                           status_callback=call_status_callback_url(self.svc, text.id))
        return SentText(sid=sid, status="queued")

    def _record(self, session: Session, claimed: list[_Claimed], results: list[Any], outcome: Outcome) -> None:
        now = self.clock()
        sent_rows: list[dict[str, Any]] = []
        sent: list[_Claimed] = []
        for text, result in zip(claimed, results, strict=True):
            if result is None:
                outcome.taken_over += 1
                continue
            if isinstance(result, SentText):
                sent_rows.append({"mid": text.id, "tok": text.token, "sid": result.sid, "now": now})
                sent.append(text)
                continue
            message = session.get(OutboundMessage, text.id)
            if message is None or message.attempts != text.token or message.status != DeliveryStatus.SENDING.value:
                outcome.taken_over += 1  # another worker owns it now; its outcome is theirs to record
                continue
            if result.code == 30036:
                self._finish(message, DeliveryStatus.EXPIRED, now)
                outcome.expired += 1
            elif result.ambiguous:
                outcome.ambiguous += 1  # stays SENDING: reconciled once the lease runs out
                log.warning("message %s to %s: %s", text.id, mask_phone(text.to), result)
            elif result.retryable:
                message.error_code = result.code or result.http_status
                at = next_attempt(text.token, now, valid_until=text.valid_until, retry_after=result.retry_after,
                                  rng=self.rng)
                if at is None:  # it could not go out in time: drop it rather than send it late
                    self._finish(message, DeliveryStatus.EXPIRED if text.valid_until else DeliveryStatus.FAILED,
                                 now)
                    if text.valid_until:
                        outcome.expired += 1
                    else:
                        outcome.failed += 1
                    continue
                message.status = DeliveryStatus.PENDING.value
                message.requeued_at = at  # the sweep, too, leaves it until then
                outcome.retry.append(text.id)
                outcome.retry_at = at if outcome.retry_at is None else max(outcome.retry_at, at)
            else:
                message.error_code = result.code or result.http_status
                self._finish(message, DeliveryStatus.FAILED, now)
                outcome.failed += 1
                if not text.is_call:
                    self._mark_member(session, message, result.code, now)
                    outcome.calls.extend(alertcalls.fall_back(self.svc, session, alertcalls.FailedText(
                        text.id, text.member_id, text.incident_id, text.layer, text.purpose, result.code), now))
                log.info("message %s to %s failed permanently: %s", text.id, mask_phone(text.to), result.code)
        if sent_rows:
            session.connection().execute(_RECORD_SENT, sent_rows)  # one executemany for the whole chunk
            outcome.sent += len(sent_rows)
            self._thread_sent(session, sent, now)

    @staticmethod
    def _thread_sent(session: Session, sent: list[_Claimed], now: datetime) -> None:
        """Each text sent for an incident is a line in its thread, naming its message, never the member
        or number (the console resolves the masked number when a coordinator reads it)."""
        events = [
            {"incident_id": t.incident_id, "at": now, "kind": f"{t.purpose}_sent", "participant_id": None,
             "actor": f"message {t.id}", "body_token": None,
             "detail": {"layer": t.layer, "message": t.id, **({"by": "call"} if t.is_call else {})}}
            for t in sent if t.incident_id is not None
        ]
        if events:
            session.connection().execute(insert(cast(Table, ThreadEvent.__table__)), events)

    @staticmethod
    def _mark_member(session: Session, message: OutboundMessage, code: int | None, now: datetime) -> None:
        if message.member_id is None or code not in (OPTED_OUT, INVALID_NUMBER, NOT_MOBILE):
            return
        member = session.get(Member, message.member_id)
        if member is None:
            return
        if code == OPTED_OUT:
            # The carrier says they opted out (perhaps by texting STOP to another of our numbers).
            member.status = MemberStatus.OPTED_OUT.value
            member.opted_out_at = member.opted_out_at or now
        else:
            member.undeliverable_code = code
