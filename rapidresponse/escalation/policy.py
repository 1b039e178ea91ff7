"""Escalation policy: given an incident's state and `now`, what happens next (pure).

Counting: a layer's quorum is met by acknowledgements (YES) from its own members and, for a
responding layer, from every responding layer alerted so far — three people on the way is enough,
whichever layer they came from. Verifier layers count only their own verifiers.
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


@dataclass(frozen=True)
class LayerState:
    status: LayerStatus
    due_at: datetime | None = None


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
    if not skipped and state.due_at is not None and now < state.due_at:
        return Decision(Step.WAIT, at=state.due_at)
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


def due_at(alerted_at: datetime, wait_seconds: float) -> datetime:
    return alerted_at + timedelta(seconds=wait_seconds)
