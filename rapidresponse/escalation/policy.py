"""Escalation policy: given an incident's state and `now`, what happens next (pure).

Counting: a layer's quorum is met by acknowledgements (YES) from its own members and, for a
responding layer, from every responding layer alerted so far — three people on the way is enough,
whichever layer they came from. Verifier layers count only their own verifiers.

Waves: a layer with `wave = N` alerts N members at a time. While its quorum is not reached, the
next wave goes when the wave's wait is over (`next_wave_at`), until the layer's own wait is over
and the next layer is due; the service sets `next_wave_at` to None when nobody is left to alert.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from rapidresponse.incidents.states import LayerStatus
from rapidresponse.trees.model import Tree


class Step(str, Enum):
    NOTHING = "nothing"  # closed, or nothing left to do (waiting for a CONFIRM, or no next layer)
    WAIT = "wait"  # look again at `at`
    ALERT_NEXT = "alert_next"  # alert `layer` now
    COVERED = "covered"  # quorum reached: later layers are not needed
    NEXT_WAVE = "next_wave"  # alert the next wave of `layer` now


@dataclass(frozen=True)
class LayerState:
    status: LayerStatus
    due_at: datetime | None = None
    next_wave_at: datetime | None = None


@dataclass(frozen=True)
class Decision:
    step: Step
    layer: int | None = None
    at: datetime | None = None
    unverified: bool = False


def responders_on_the_way(tree: Tree, yes_by_layer: Mapping[int, int]) -> int:
    verifiers = tree.verifier_layers
    return sum(n for layer, n in yes_by_layer.items() if layer not in verifiers)


def current_layer(layers: Mapping[int, LayerState]) -> int:
    """The last layer that has had its turn (alerted or skipped); 0 before any."""
    done = [n for n, s in layers.items() if s.status in (LayerStatus.ALERTED, LayerStatus.SKIPPED)]
    return max(done, default=0)


def decide(
    tree: Tree,
    layers: Mapping[int, LayerState],
    yes_by_layer: Mapping[int, int],
    *,
    is_open: bool,
    confirmed: bool,
    covered: bool,
    now: datetime,
) -> Decision:
    if not is_open or covered:
        return Decision(Step.NOTHING)
    k = current_layer(layers)
    if k == 0:
        return Decision(Step.ALERT_NEXT, layer=1)
    layer = tree.layer(k)
    assert layer is not None
    nxt = k + 1 if tree.layer(k + 1) is not None and layers.get(k + 1, LayerState(LayerStatus.WAITING)).status \
        == LayerStatus.WAITING else None
    if not layer.verifies and responders_on_the_way(tree, yes_by_layer) >= layer.quorum:
        return Decision(Step.COVERED)
    if layer.verifies and confirmed:
        return Decision(Step.ALERT_NEXT, layer=nxt) if nxt else Decision(Step.NOTHING)
    state = layers[k]
    skipped = state.status == LayerStatus.SKIPPED
    in_wait = not skipped and state.due_at is not None and now < state.due_at
    wave_at = state.next_wave_at if in_wait and not _layer_quorum_met(tree, k, yes_by_layer) else None
    if wave_at is not None and now >= wave_at:
        return Decision(Step.NEXT_WAVE, layer=k)
    if in_wait:
        assert state.due_at is not None
        return Decision(Step.WAIT, at=min(state.due_at, wave_at) if wave_at is not None else state.due_at)
    if nxt is None:
        return Decision(Step.NOTHING)
    if layer.verifies:
        verifier_yes = yes_by_layer.get(k, 0)
        if layer.next_waits_for_confirmation:
            if verifier_yes == 0:
                return Decision(Step.ALERT_NEXT, layer=nxt, unverified=True)
            # A verifier is on the way to check: wait for their CONFIRM or FALSE.
            return Decision(Step.NOTHING)
        return Decision(Step.ALERT_NEXT, layer=nxt, unverified=not confirmed)
    return Decision(Step.ALERT_NEXT, layer=nxt)


def _layer_quorum_met(tree: Tree, number: int, yes_by_layer: Mapping[int, int]) -> bool:
    """Whether layer `number` has the acknowledgements it asks for (no more waves needed)."""
    layer = tree.layer(number)
    assert layer is not None
    if layer.verifies:
        return yes_by_layer.get(number, 0) >= layer.quorum
    return responders_on_the_way(tree, yes_by_layer) >= layer.quorum


def due_at(alerted_at: datetime, wait_seconds: float) -> datetime:
    return alerted_at + timedelta(seconds=wait_seconds)
