"""Waves in the escalation policy and the trees file's duty settings, pure and on a fixed clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from rapidresponse.escalation.policy import LayerState, Step, decide
from rapidresponse.incidents.states import LayerStatus
from rapidresponse.trees.model import TreeConfigError, parse_trees

NOW = datetime(2026, 12, 1, 11, 0, tzinfo=UTC)
VERIFIERS = {"name": "verifiers", "verifies": True, "quorum": 2, "wait_seconds": 300, "wave": 2,
             "wave_wait_seconds": 60}
RESPONDERS = {"name": "rapid responders", "quorum": 3, "wait_seconds": 300, "wave": 5, "wave_wait_seconds": 90}
TREES = parse_trees({"time_zone": "America/Chicago", "trees": {
    "ice": {"keywords": ["ICE"], "layers": [VERIFIERS, RESPONDERS, {"name": "supporters", "quorum": 10}]}}})
ICE = TREES.get("ice")
DUE = NOW + timedelta(seconds=300)


def state(l1: LayerState, l2: LayerState | None = None) -> dict[int, LayerState]:
    return {1: l1, 2: l2 or LayerState(LayerStatus.WAITING), 3: LayerState(LayerStatus.WAITING)}


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


def test_the_next_wave_goes_when_its_wait_is_over_without_the_quorum():
    """Verifiers alerted 2 at a time: 60 s later with one of two verifiers on the way, the next wave goes."""
    layers = state(LayerState(LayerStatus.ALERTED, DUE, next_wave_at=at(60)))
    decision = decide(ICE, layers, {1: 1}, is_open=True, confirmed=False, covered=False, now=at(60))
    assert (decision.step, decision.layer) == (Step.NEXT_WAVE, 1)


def test_before_the_wave_wait_the_policy_looks_again_at_the_next_wave():
    layers = state(LayerState(LayerStatus.ALERTED, DUE, next_wave_at=at(60)))
    decision = decide(ICE, layers, {}, is_open=True, confirmed=False, covered=False, now=at(30))
    assert (decision.step, decision.at) == (Step.WAIT, at(60))


def test_no_next_wave_once_the_quorum_is_reached():
    """Two verifiers on the way is the quorum: no more verifiers are woken; the layer waits for CONFIRM."""
    layers = state(LayerState(LayerStatus.ALERTED, DUE, next_wave_at=at(60)))
    decision = decide(ICE, layers, {1: 2}, is_open=True, confirmed=False, covered=False, now=at(60))
    assert (decision.step, decision.at) == (Step.WAIT, DUE)


def test_the_layers_wait_still_escalates_to_the_next_layer():
    """Waves go within the layer's wait: when it is over, the next layer is alerted as before."""
    layers = state(LayerState(LayerStatus.ALERTED, DUE, next_wave_at=at(240)))
    decision = decide(ICE, layers, {}, is_open=True, confirmed=False, covered=False, now=DUE)
    assert (decision.step, decision.layer, decision.unverified) == (Step.ALERT_NEXT, 2, True)


def test_a_responding_layer_in_waves_is_covered_by_its_quorum():
    layers = state(LayerState(LayerStatus.ALERTED, NOW), LayerState(LayerStatus.ALERTED, DUE, next_wave_at=at(90)))
    assert decide(ICE, layers, {2: 3}, is_open=True, confirmed=True, covered=False, now=at(90)).step == Step.COVERED
    assert decide(ICE, layers, {2: 2}, is_open=True, confirmed=True, covered=False,
                  now=at(90)).step == Step.NEXT_WAVE


def test_without_a_next_wave_the_layer_waits_as_before():
    layers = state(LayerState(LayerStatus.ALERTED, DUE))
    decision = decide(ICE, layers, {}, is_open=True, confirmed=False, covered=False, now=at(60))
    assert (decision.step, decision.at) == (Step.WAIT, DUE)


def test_trees_file_duty_settings():
    """on_duty is kept in one spelling, a wave's wait defaults to a minute (at most half the layer's
    wait), and every tree knows the network's time zone."""
    trees = parse_trees({"time_zone": "America/Chicago", "trees": {"ice": {"layers": [
        {"on_duty": "5-14", "wave": 3}, {"wave": 2, "wait_seconds": 60}]}}})
    first, second = trees.get("ice").layers
    assert (first.on_duty, first.wave, first.wave_wait_seconds) == ("05:00-14:00", 3, 60.0)
    assert second.wave_wait_seconds == 30.0
    assert trees.get("ice").time_zone == "America/Chicago"
    assert trees.get("ice").thaw(trees.get("ice").freeze()) == trees.get("ice")


@pytest.mark.parametrize(("data", "message"), [
    ({"time_zone": "Mars/Olympus", "trees": {"ice": {"layers": [{}]}}}, "time_zone: 'Mars/Olympus' is not a time zone"),
    ({"trees": {"ice": {"layers": [{"on_duty": "5-14"}]}}}, "needs the network's time_zone"),
    ({"time_zone": "UTC", "trees": {"ice": {"layers": [{"on_duty": "morning"}]}}}, "layers[1].on_duty: a duty window"),
    ({"trees": {"ice": {"layers": [{"wave": 0}]}}}, "layers[1].wave: must be a whole number"),
    ({"trees": {"ice": {"layers": [{"wave_wait_seconds": 30}]}}}, "only a layer alerted in waves"),
    ({"trees": {"ice": {"layers": [{"wave": 5, "wait_seconds": 60, "wave_wait_seconds": 60}]}}},
     "must be shorter than the layer's wait_seconds"),
])  # fmt: skip
def test_bad_duty_settings_fail_at_start_up_naming_themselves(data, message):
    with pytest.raises(TreeConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_trees(data)
