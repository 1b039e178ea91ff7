"""The escalation policy, pure: given the layers in flight, the acknowledgements and `now`, what is next."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from rapidresponse.escalation.policy import Decision, LayerState, Step, decide
from rapidresponse.incidents.states import LayerStatus
from rapidresponse.trees.model import Tree, parse_trees

NOW = datetime(2025, 3, 4, 9, 30, tzinfo=UTC)
LATER = NOW + timedelta(minutes=3)  # when the layer alerted at NOW is due
BEFORE = LATER - timedelta(seconds=1)

VERIFIER = {"name": "verifiers", "verifies": True, "quorum": 1, "wait_seconds": 180,
            "next_waits_for_confirmation": True}
RESPONDERS = {"name": "rapid responders", "quorum": 3, "wait_seconds": 300}
SUPPORTERS = {"name": "supporters", "quorum": 10, "wait_seconds": 600}

TREES = parse_trees({"trees": {
    # Verifiers first; the responders wait for a verifier's CONFIRM once one is on the way.
    "ice": {"keywords": ["ICE"], "layers": [VERIFIER, RESPONDERS, SUPPORTERS]},
    # Verifiers first, but the next layer goes at the end of the wait whatever the verifiers did.
    "copwatch": {"keywords": ["COPWATCH"],
                 "layers": [{**VERIFIER, "next_waits_for_confirmation": False}, RESPONDERS, SUPPORTERS]},
    # Responders only.
    "eviction": {"keywords": ["EVICTION"], "layers": [{**RESPONDERS, "quorum": 10}, SUPPORTERS]},
}})
ICE, COPWATCH, EVICTION = TREES.get("ice"), TREES.get("copwatch"), TREES.get("eviction")


def layers(tree: Tree, **given: tuple[LayerStatus, datetime | None]) -> dict[int, LayerState]:
    """Every layer of the tree WAITING unless given as l1=(status, due_at)."""
    states = {layer.number: LayerState(LayerStatus.WAITING) for layer in tree.layers}
    for key, (status, due) in given.items():
        states[int(key.removeprefix("l"))] = LayerState(status, due)
    return states


def run(tree: Tree, states: dict[int, LayerState], yes: dict[int, int] | None = None, *, now: datetime = NOW,
        confirmed: bool = False, is_open: bool = True, covered: bool = False) -> Decision:
    return decide(tree, states, yes or {}, is_open=is_open, confirmed=confirmed, covered=covered, now=now)


ALERTED = LayerStatus.ALERTED
SKIPPED = LayerStatus.SKIPPED


# --- the first layer -------------------------------------------------------------------------------

@pytest.mark.parametrize("tree", [ICE, COPWATCH, EVICTION], ids=lambda t: t.name)
def test_a_new_incident_alerts_the_first_layer(tree):
    """A report that nobody has been alerted about yet goes to layer 1 at once."""
    assert run(tree, layers(tree)) == Decision(Step.ALERT_NEXT, layer=1)


def test_first_layer_is_alerted_even_with_no_layer_rows():
    """An incident whose layers are not recorded yet still starts with layer 1."""
    assert run(ICE, {}) == Decision(Step.ALERT_NEXT, layer=1)


# --- a verifier layer whose next layer waits for confirmation --------------------------------------

def test_verifiers_are_given_their_wait():
    """While the verifiers' wait runs, nothing more is sent; look again when it ends."""
    assert run(ICE, layers(ICE, l1=(ALERTED, LATER)), now=BEFORE) == Decision(Step.WAIT, at=LATER)


def test_verifier_yes_before_the_wait_ends_still_waits():
    """A verifier on the way before the wait ends changes nothing yet: still waiting."""
    assert run(ICE, layers(ICE, l1=(ALERTED, LATER)), {1: 1}, now=BEFORE) == Decision(Step.WAIT, at=LATER)


@pytest.mark.parametrize("now", [LATER, LATER + timedelta(hours=1)], ids=["at_due", "long_after"])
def test_no_verifier_answered_so_responders_go_unverified(now):
    """If no verifier even acknowledged within the wait, the responders are alerted, marked UNVERIFIED."""
    assert run(ICE, layers(ICE, l1=(ALERTED, LATER)), now=now) == Decision(Step.ALERT_NEXT, layer=2,
                                                                            unverified=True)


def test_yes_from_outside_the_verifier_layer_is_not_a_verifier_on_the_way():
    """A YES from someone not in the verifier layer does not hold the responders back."""
    decision = run(ICE, layers(ICE, l1=(ALERTED, LATER)), {0: 2}, now=LATER)
    assert decision == Decision(Step.ALERT_NEXT, layer=2, unverified=True)


def test_verifier_on_the_way_holds_the_responders_until_they_confirm():
    """A verifier said YES but has not confirmed: the responders wait for CONFIRM or FALSE, however long."""
    states = layers(ICE, l1=(ALERTED, LATER))
    assert run(ICE, states, {1: 1}, now=LATER) == Decision(Step.NOTHING)
    assert run(ICE, states, {1: 1}, now=LATER + timedelta(hours=2)) == Decision(Step.NOTHING)


@pytest.mark.parametrize("now", [NOW, BEFORE, LATER], ids=["at_once", "before_due", "after_due"])
@pytest.mark.parametrize("verifier_yes", [0, 1])
def test_confirmed_report_alerts_responders_at_once(now, verifier_yes):
    """A CONFIRM sends the responders their alert straight away, marked verified, without waiting."""
    decision = run(ICE, layers(ICE, l1=(ALERTED, LATER)), {1: verifier_yes}, now=now, confirmed=True)
    assert decision == Decision(Step.ALERT_NEXT, layer=2, unverified=False)


# --- a verifier layer whose next layer does not wait -----------------------------------------------

@pytest.mark.parametrize(("yes", "confirmed", "expected"), [
    ({}, False, Decision(Step.ALERT_NEXT, layer=2, unverified=True)),
    ({1: 1}, False, Decision(Step.ALERT_NEXT, layer=2, unverified=True)),
    ({1: 1}, True, Decision(Step.ALERT_NEXT, layer=2, unverified=False)),
])
def test_verifiers_without_confirmation_gate_escalate_at_the_end_of_the_wait(yes, confirmed, expected):
    """Without a confirmation gate the responders go when the wait ends, unverified unless confirmed."""
    states = layers(COPWATCH, l1=(ALERTED, LATER))
    assert run(COPWATCH, states, yes, now=LATER, confirmed=confirmed) == expected


def test_verifier_yes_never_covers_an_incident():
    """However many verifiers say YES, the incident is not 'covered': they check, they do not respond."""
    decision = run(ICE, layers(ICE, l1=(ALERTED, LATER)), {1: 5}, now=BEFORE)
    assert decision.step != Step.COVERED


# --- responder layers ------------------------------------------------------------------------------

RESPONDERS_OUT = {"l1": (ALERTED, NOW - timedelta(minutes=5)), "l2": (ALERTED, LATER)}
SUPPORTERS_OUT = {**RESPONDERS_OUT, "l2": (ALERTED, NOW - timedelta(minutes=1)), "l3": (ALERTED, LATER)}


@pytest.mark.parametrize(("given", "yes", "covered"), [
    (RESPONDERS_OUT, {2: 3}, True),
    (RESPONDERS_OUT, {2: 5}, True),
    (RESPONDERS_OUT, {2: 2}, False),
    (RESPONDERS_OUT, {1: 1, 2: 2}, False),  # the verifier's YES is not a responder on the way
    (RESPONDERS_OUT, {1: 4}, False),
    (RESPONDERS_OUT, {0: 1, 2: 2}, True),  # a YES from outside the layers (layer 0) counts as a responder
    (SUPPORTERS_OUT, {2: 4, 3: 6}, True),  # responders and supporters together make the quorum of 10
    (SUPPORTERS_OUT, {1: 1, 2: 4, 3: 5}, False),
    (SUPPORTERS_OUT, {2: 10}, True),
], ids=["exact", "more", "short", "verifier_not_counted", "verifiers_only", "layer0", "across_layers",
        "across_layers_short", "earlier_layer_alone"])
def test_responder_quorum(given, yes, covered):
    """Enough YES from responding layers (any, never verifiers) covers the incident, even before the wait."""
    decision = run(ICE, layers(ICE, **given), yes, now=BEFORE)
    assert (decision == Decision(Step.COVERED)) is covered
    if not covered:
        assert decision == Decision(Step.WAIT, at=LATER)


def test_quorum_not_reached_after_the_wait_alerts_the_next_layer():
    """When the responders' wait ends short of the quorum, the supporters are alerted."""
    assert run(ICE, layers(ICE, **RESPONDERS_OUT), {2: 2}, now=LATER) == Decision(Step.ALERT_NEXT, layer=3)


def test_responder_only_tree_escalates_after_the_wait():
    """A tree without verifiers simply moves to its next layer when the quorum is not met in time."""
    assert run(EVICTION, layers(EVICTION, l1=(ALERTED, LATER)), {1: 9}, now=LATER) == Decision(
        Step.ALERT_NEXT, layer=2)
    assert run(EVICTION, layers(EVICTION, l1=(ALERTED, LATER)), {1: 10}, now=BEFORE) == Decision(Step.COVERED)


@pytest.mark.parametrize("now", [LATER, LATER + timedelta(days=1)])
def test_last_layer_without_quorum_has_nothing_left_to_do(now):
    """After the last layer's wait there is nobody else to alert: nothing happens."""
    assert run(ICE, layers(ICE, **SUPPORTERS_OUT), {2: 3, 3: 3}, now=now) == Decision(Step.NOTHING)


def test_a_layer_already_alerted_is_never_alerted_again():
    """If the next layer has already had its turn, the policy looks at that layer instead."""
    states = layers(ICE, l1=(ALERTED, NOW), l2=(ALERTED, LATER))
    assert run(ICE, states, now=LATER).layer != 2


# --- skipped (empty) layers ------------------------------------------------------------------------

@pytest.mark.parametrize(("tree", "given", "expected"), [
    (ICE, {"l1": (SKIPPED, LATER)}, Decision(Step.ALERT_NEXT, layer=2, unverified=True)),
    (COPWATCH, {"l1": (SKIPPED, LATER)}, Decision(Step.ALERT_NEXT, layer=2, unverified=True)),
    (ICE, {"l1": (ALERTED, NOW), "l2": (SKIPPED, LATER)}, Decision(Step.ALERT_NEXT, layer=3)),
    (EVICTION, {"l1": (SKIPPED, LATER)}, Decision(Step.ALERT_NEXT, layer=2)),
    (ICE, {"l1": (SKIPPED, None)}, Decision(Step.ALERT_NEXT, layer=2, unverified=True)),
    (ICE, {"l1": (SKIPPED, LATER), "l2": (SKIPPED, LATER), "l3": (SKIPPED, LATER)}, Decision(Step.NOTHING)),
], ids=["no_verifiers", "no_verifiers_no_gate", "no_responders", "responder_tree", "no_due", "all_empty"])
def test_an_empty_layer_is_passed_over_at_once(tree, given, expected):
    """A layer with nobody in it does not make the next layer wait for its turn to run out."""
    assert run(tree, layers(tree, **given), now=NOW) == expected


# --- closed and covered incidents ------------------------------------------------------------------

@pytest.mark.parametrize("given", [{}, {"l1": (ALERTED, LATER)}, RESPONDERS_OUT, SUPPORTERS_OUT,
                                   {"l1": (SKIPPED, LATER)}], ids=["new", "verifying", "responders",
                                                                   "supporters", "skipped"])
@pytest.mark.parametrize(("is_open", "covered"), [(False, False), (True, True), (False, True)],
                         ids=["closed", "covered", "closed_and_covered"])
@pytest.mark.parametrize("now", [BEFORE, LATER + timedelta(hours=1)], ids=["before_due", "after_due"])
def test_closed_or_covered_incident_alerts_nobody_more(given, is_open, covered, now):
    """Once an incident is closed or covered, no layer is alerted and no timer is set, whatever else holds."""
    decision = run(ICE, layers(ICE, **given), {2: 1}, now=now, confirmed=True, is_open=is_open,
                   covered=covered)
    assert decision == Decision(Step.NOTHING)
