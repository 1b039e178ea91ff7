"""Incident codes: a report on a busy day gets a free short code at once, not after blind retries."""

from __future__ import annotations

import random
from itertools import islice

from rapidresponse.incidents.codes import SHORT_CODES, candidate_codes


def test_the_first_code_offered_is_one_no_open_incident_holds():
    taken = set(SHORT_CODES) - {"K7"}
    assert next(candidate_codes(random.Random(1), taken)) == "K7"


def test_short_codes_are_offered_before_long_ones_and_never_twice():
    offered = list(islice(candidate_codes(random.Random(2), {"A2"}), 24))
    assert all(len(code) == 2 for code in offered)
    assert len(set(offered)) == 24 and "A2" not in offered


def test_with_every_short_code_held_the_offers_are_longer_and_free():
    taken = set(SHORT_CODES) | {"AB23"}
    rng = random.Random(3)
    offered = list(candidate_codes(rng, taken))
    assert offered and all(len(code) == 4 and code not in taken for code in offered)
