"""After-action figures (pure, clock injected): per layer counts, times to send / delivery / YES / quorum,
never reached, escalations, the chart's steps, drill comparisons."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from rapidresponse.afteraction import chart
from rapidresponse.afteraction.figures import (
    AlertFacts,
    AnswerFacts,
    IncidentFacts,
    LayerFacts,
    Point,
    compare,
    compute,
    span,
)

T0 = datetime(2026, 12, 1, 5, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def layers(**alerted: float) -> list[LayerFacts]:
    """Three layers as the ice tree has them; alerted={"l1": seconds, ...}; each waits 180 s."""
    spec = [(1, "verifiers", True, 1), (2, "rapid responders", False, 3), (3, "supporters", False, 5)]
    found = []
    for number, name, verifies, quorum in spec:
        when = alerted.get(f"l{number}")
        found.append(LayerFacts(number, name, verifies, quorum, "alerted" if when is not None else "not_needed",
                                at(when) if when is not None else None,
                                at(when + 180) if when is not None else None))
    return found


def delivered(person: str, layer: int, sent: float, delivery: float, masked: str = "…0000") -> AlertFacts:
    return AlertFacts(person, layer, "delivered", at(sent), at(delivery), masked)


def drill_facts() -> IncidentFacts:
    """A drill: 2 verifiers (one YES), then layer 2 after the wait (4 people, one never reached), quorum at 9 min."""
    return IncidentFacts(
        opened_at=T0, drill=True, closed_at=at(1200), covered_at=at(540),
        layers=layers(l1=2, l2=182),
        alerts=[
            delivered("m1", 1, 3, 8), delivered("m2", 1, 3, 10),
            delivered("m3", 2, 183, 190), delivered("m4", 2, 183, 200), delivered("m5", 2, 184, 260),
            AlertFacts("m6", 2, "undelivered", at(184), at(190), "…4521"),
        ],
        answers=[
            AnswerFacts("p1", 1, True, at(240)),
            AnswerFacts("p2", 2, False, at(300)), AnswerFacts("p2", 2, True, at(420)),
            AnswerFacts("p3", 2, True, at(480)), AnswerFacts("p4", 2, True, at(540)),
        ],
        debriefs=["fine", "support", "fine"], debriefs_asked=4,
    )


def test_counts_per_layer_alerted_reached_answered_on_the_way():
    """Per layer: people alerted, reached (delivered), answered (final answer there) and on the way."""
    figures = compute(drill_facts(), now=at(5000))
    rows = [(lay.number, lay.alerted, lay.reached, lay.answered, lay.on_the_way) for lay in figures.layers]
    assert rows == [(1, 2, 2, 1, 1), (2, 4, 3, 3, 3), (3, 0, 0, 0, 0)]
    assert (figures.alerted, figures.reached, figures.answered, figures.on_the_way) == (6, 5, 4, 4)


def test_times_from_the_report_first_median_slowest():
    """Send, delivery and YES: the first, the median and the slowest person; the quorum when it came."""
    figures = compute(drill_facts(), now=at(5000))
    assert (figures.send.first, figures.send.median, figures.send.slowest) == (3, 183, 184)
    assert (figures.delivery.first, figures.delivery.median, figures.delivery.slowest) == (8, 190, 260)
    # p2 said NO then YES: their YES counts from the YES, not the NO.
    assert (figures.yes.first, figures.yes.median, figures.yes.slowest, figures.yes.count) == (240, 450, 540, 4)
    assert figures.quorum == 540 and figures.duration == 1200 and not figures.is_open


def test_never_reached_is_masked_and_unconfirmed_is_counted_apart():
    """Only a person whose every alert failed is never reached (masked); sent-but-unreported is unconfirmed."""
    facts = drill_facts()
    facts = IncidentFacts(**{**facts.__dict__, "alerts": [
        *facts.alerts, AlertFacts("m7", 2, "sent", at(185), at(186), "…7777"),
        # A person on both channels whose text failed but whose call got through is reached.
        AlertFacts("m8", 2, "failed", at(185), at(186), "…8888"), delivered("m8", 2, 186, 230, "…8888"),
    ]})
    figures = compute(facts, now=at(5000))
    assert figures.never_reached == ["…4521"]
    assert figures.unconfirmed == 1 and figures.layers[1].alerted == 6 and figures.layers[1].reached == 4


def test_a_layer_escalated_only_when_its_wait_ran_out():
    """Layer 1 escalated (layer 2 went at its due time); a CONFIRM that starts layer 2 early is no escalation."""
    assert compute(drill_facts(), now=at(5000)).escalated == [1]
    confirmed = IncidentFacts(opened_at=T0, layers=layers(l1=2, l2=60))
    assert compute(confirmed, now=at(100)).escalated == []


def test_an_open_incident_counts_up_to_now():
    """While open, the duration runs to `now`, and nothing not yet happened has a time."""
    facts = IncidentFacts(opened_at=T0, layers=layers(l1=1), alerts=[delivered("m1", 1, 2, 5)])
    figures = compute(facts, now=at(90))
    assert figures.is_open and figures.duration == 90
    assert figures.yes.first is None and figures.quorum is None and figures.yes.count == 0
    assert figures.points[-1] == Point(90, 0, 1)


def test_chart_steps_follow_answers_and_deliveries():
    """Each change is one step: a NO then YES counts once, from the YES; the line runs on to the close."""
    points = compute(drill_facts(), now=at(5000)).points
    assert points[0] == Point(0, 0, 0)
    assert [(p.at, p.on_the_way) for p in points if p.at >= 240] == [
        (240, 1, ), (260, 1), (300, 1), (420, 2), (480, 3), (540, 4), (1200, 4)]
    assert max(p.reached for p in points) == 5


def test_debrief_answers_are_counted():
    """The debrief answers, by kind, and how many were asked."""
    figures = compute(drill_facts(), now=at(5000))
    assert figures.debriefs == {"fine": 2, "support": 1} and figures.debriefs_asked == 4


def test_comparison_with_the_drill_before():
    """A drill is compared with the one before: first YES and quorum, this one then that one."""
    now = at(5000)
    current = compute(drill_facts(), now)
    earlier = compute(IncidentFacts(opened_at=T0, layers=layers(l1=2), answers=[AnswerFacts("p1", 1, True, at(420))],
                                    closed_at=at(900)), now)
    comparison = compare(current, earlier)
    assert comparison is not None
    assert comparison.first_yes == (240, 420) and comparison.quorum == (540, None)
    assert compare(current, None) is None


@pytest.mark.parametrize(("seconds", "said"), [
    (None, "—"), (0, "0 s"), (45, "45 s"), (60, "1 min"), (270, "4 min 30 s"), (599, "9 min 59 s"),
    (840, "14 min"), (3600, "1 h"), (3900, "1 h 5 min"),
])
def test_span_reads_as_people_say_it(seconds, said):
    """Times read as people say them."""
    assert span(seconds) == said


def test_chart_is_an_svg_with_both_lines_the_quorum_and_layer_marks():
    """The chart is plain SVG (no script, no inline style): the two lines, the quorum line, L1/L2 marks."""
    markup = str(chart.svg(compute(drill_facts(), now=at(5000)), title="K7 <drill>"))
    assert markup.startswith("<svg") and markup.endswith("</svg>")
    assert markup.count("<polyline") == 2 and "quorum 3" in markup
    assert ">L1<" in markup and ">L2<" in markup
    assert "K7 &lt;drill&gt;" in markup
    assert "<script" not in markup and "style=" not in markup
