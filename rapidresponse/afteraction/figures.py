"""What happened in an incident, in figures (pure: takes the facts and `now`, no database).

Per layer: people alerted, reached (an alert delivered), answered, on the way. Times from the
report to the first send, the first delivery, the first YES and the quorum, with the median and
the slowest of each person's send, delivery and YES. Who was never reached (every alert to them
failed or was never sent), which layers escalated (the next layer went because this one's wait
ran out), the debrief answers, and the steps of the chart (on the way and reached over time).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from statistics import median

# Alert statuses that say a text or call is over without reaching anyone.
FAILED = frozenset({"undelivered", "failed", "expired", "cancelled"})
DELIVERED = "delivered"


@dataclass(frozen=True)
class LayerFacts:
    number: int
    name: str
    verifies: bool
    quorum: int
    status: str  # waiting / alerted / skipped / not_needed
    alerted_at: datetime | None = None
    due_at: datetime | None = None


@dataclass(frozen=True)
class AlertFacts:
    """One alert text or call to one person (`person`: who it went to, e.g. a member id)."""

    person: str
    layer: int
    status: str
    sent_at: datetime | None = None
    status_at: datetime | None = None
    masked: str = "…"  # the number's last four digits, for "never reached"


@dataclass(frozen=True)
class AnswerFacts:
    """One YES or NO, in the order given (`person`: the participant who answered)."""

    person: str
    layer: int | None
    yes: bool
    at: datetime


@dataclass(frozen=True)
class IncidentFacts:
    opened_at: datetime
    layers: Sequence[LayerFacts]
    alerts: Sequence[AlertFacts] = ()
    answers: Sequence[AnswerFacts] = ()
    closed_at: datetime | None = None
    covered_at: datetime | None = None
    drill: bool = False
    debriefs: Sequence[str] = ()  # each debrief answer: fine / support / text
    debriefs_asked: int = 0


@dataclass(frozen=True)
class Spread:
    """Seconds from the report: the first, the median and the slowest; None when nothing happened."""

    first: float | None = None
    median: float | None = None
    slowest: float | None = None
    count: int = 0

    @classmethod
    def of(cls, seconds: Iterable[float]) -> Spread:
        values = sorted(seconds)
        if not values:
            return cls()
        return cls(values[0], float(median(values)), values[-1], len(values))


@dataclass(frozen=True)
class LayerFigures:
    number: int
    name: str
    verifies: bool
    quorum: int
    status: str
    alerted: int = 0
    reached: int = 0  # people with an alert delivered
    answered: int = 0
    on_the_way: int = 0
    alerted_after: float | None = None  # seconds from the report
    escalated: bool = False  # the next layer went because this one's wait ran out


@dataclass(frozen=True)
class Point:
    at: float  # seconds from the report
    on_the_way: int
    reached: int


@dataclass(frozen=True)
class Figures:
    drill: bool
    duration: float  # seconds from the report to the close (or to `now` while open)
    is_open: bool
    layers: list[LayerFigures]
    send: Spread
    delivery: Spread
    yes: Spread
    quorum: float | None  # seconds from the report to the quorum
    never_reached: list[str]  # masked numbers
    unconfirmed: int  # sent, but the provider never said delivered or failed
    alerted: int
    reached: int
    answered: int
    on_the_way: int
    points: list[Point] = field(default_factory=list)
    layer_marks: list[tuple[int, float]] = field(default_factory=list)  # (layer, seconds) when alerted
    quorum_needed: int = 0
    debriefs_asked: int = 0
    debriefs: dict[str, int] = field(default_factory=dict)

    @property
    def escalated(self) -> list[int]:
        return [layer.number for layer in self.layers if layer.escalated]


def _after(start: datetime, at: datetime) -> float:
    return max(0.0, (at - start).total_seconds())


def _final_answers(answers: Sequence[AnswerFacts]) -> dict[str, AnswerFacts]:
    last: dict[str, AnswerFacts] = {}
    for answer in answers:
        last[answer.person] = answer
    return last


def compute(facts: IncidentFacts, now: datetime) -> Figures:
    """The figures of one incident as of `now` (an open incident's so far)."""
    start = facts.opened_at
    end = facts.closed_at or now
    by_person: dict[str, list[AlertFacts]] = {}
    for alert in facts.alerts:
        by_person.setdefault(alert.person, []).append(alert)
    person_layer = {person: min(a.layer for a in alerts) for person, alerts in by_person.items()}

    first_sent = {p: min(a.sent_at for a in alerts if a.sent_at is not None)
                  for p, alerts in by_person.items() if any(a.sent_at is not None for a in alerts)}
    delivered = {p: min(a.status_at or a.sent_at or start for a in alerts if a.status == DELIVERED)
                 for p, alerts in by_person.items() if any(a.status == DELIVERED for a in alerts)}
    never = sorted(p for p, alerts in by_person.items()
                   if p not in delivered and all(a.status in FAILED for a in alerts))
    unconfirmed = len(by_person) - len(delivered) - len(never)

    final = _final_answers(facts.answers)
    first_yes: dict[str, datetime] = {}
    for answer in facts.answers:
        if answer.yes:
            first_yes.setdefault(answer.person, answer.at)

    layers = []
    by_number = {layer.number: layer for layer in facts.layers}
    for layer in facts.layers:
        nxt = by_number.get(layer.number + 1)
        escalated = (nxt is not None and nxt.alerted_at is not None and layer.due_at is not None
                     and layer.status == "alerted" and nxt.alerted_at >= layer.due_at)
        people = [p for p, n in person_layer.items() if n == layer.number]
        layers.append(LayerFigures(
            number=layer.number, name=layer.name, verifies=layer.verifies, quorum=layer.quorum, status=layer.status,
            alerted=len(people), reached=sum(1 for p in people if p in delivered),
            answered=sum(1 for a in final.values() if a.layer == layer.number),
            on_the_way=sum(1 for a in final.values() if a.layer == layer.number and a.yes),
            alerted_after=_after(start, layer.alerted_at) if layer.alerted_at is not None else None,
            escalated=escalated,
        ))

    responding = [layer for layer in facts.layers if not layer.verifies and layer.alerted_at is not None]
    quorum_needed = responding[-1].quorum if responding else (facts.layers[0].quorum if facts.layers else 0)
    debriefs: dict[str, int] = {}
    for kind in facts.debriefs:
        debriefs[kind] = debriefs.get(kind, 0) + 1
    return Figures(
        drill=facts.drill, duration=_after(start, end), is_open=facts.closed_at is None, layers=layers,
        send=Spread.of(_after(start, at) for at in first_sent.values()),
        delivery=Spread.of(_after(start, at) for at in delivered.values()),
        yes=Spread.of(_after(start, at) for at in first_yes.values()),
        quorum=_after(start, facts.covered_at) if facts.covered_at is not None else None,
        never_reached=[_masked(by_person[p]) for p in never], unconfirmed=unconfirmed,
        alerted=len(by_person), reached=len(delivered), answered=len(final),
        on_the_way=sum(1 for a in final.values() if a.yes),
        points=_points(start, end, facts.answers, delivered.values()),
        layer_marks=[(layer.number, _after(start, layer.alerted_at)) for layer in facts.layers
                     if layer.alerted_at is not None and layer.status == "alerted"],
        quorum_needed=quorum_needed, debriefs_asked=facts.debriefs_asked, debriefs=debriefs,
    )


def _masked(alerts: list[AlertFacts]) -> str:
    return next((a.masked for a in alerts if a.masked), "…")


def _points(start: datetime, end: datetime, answers: Sequence[AnswerFacts],
            delivered: Iterable[datetime]) -> list[Point]:
    """The chart's steps: after each change, how many were on the way and how many reached."""
    changes: list[tuple[datetime, int, str | None, bool]] = [(at, 0, None, False) for at in delivered]
    changes += [(a.at, 1, a.person, a.yes) for a in answers]
    changes.sort(key=lambda c: (c[0], c[1]))
    state: dict[str, bool] = {}
    reached = 0
    points = [Point(0.0, 0, 0)]
    for at, kind, person, yes in changes:
        if kind == 0:
            reached += 1
        elif person is not None:
            state[person] = yes
        point = Point(_after(start, at), sum(state.values()), reached)
        if points[-1].at == point.at:
            points[-1] = point
        else:
            points.append(point)
    final = _after(start, end)
    if final > points[-1].at:
        points.append(Point(final, points[-1].on_the_way, points[-1].reached))
    return points


@dataclass(frozen=True)
class Comparison:
    """This drill against the drill before it on the same tree (seconds; None when either lacks it)."""

    first_yes: tuple[float | None, float | None]
    quorum: tuple[float | None, float | None]
    on_the_way: tuple[int, int]
    reached: tuple[int, int]


def compare(current: Figures, previous: Figures | None) -> Comparison | None:
    if previous is None:
        return None
    return Comparison(first_yes=(current.yes.first, previous.yes.first), quorum=(current.quorum, previous.quorum),
                      on_the_way=(current.on_the_way, previous.on_the_way), reached=(current.reached, previous.reached))


def span(seconds: float | None) -> str:
    """A time as people say it: 45 s, 4 min, 4 min 30 s, 1 h 5 min; an em dash for none."""
    if seconds is None:
        return "—"
    whole = int(round(seconds))
    if whole < 60:
        return f"{whole} s"
    if whole < 600:
        minutes, rest = divmod(whole, 60)
        return f"{minutes} min" if rest == 0 else f"{minutes} min {rest} s"
    if whole < 3600:
        return f"{round(whole / 60)} min"
    hours, rest = divmod(whole, 3600)
    return f"{hours} h {rest // 60} min" if rest // 60 else f"{hours} h"
