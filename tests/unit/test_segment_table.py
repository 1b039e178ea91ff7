"""One table of segment cases (tests/shared/segments.json) holds the Python counter and the
console's JavaScript counter to the same answers, so the live count never drifts from what is billed."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from rapidresponse.messaging.segments import GSM7_BASIC, GSM7_EXTENSION, encoding, segments

SHARED = Path(__file__).resolve().parents[1] / "shared"
CASES = json.loads((SHARED / "segments.json").read_text(encoding="utf-8"))["cases"]


def text_of(case: dict) -> str:
    return "".join(part * times for part, times in case["parts"])


@pytest.mark.parametrize("case", CASES, ids=[c["note"] for c in CASES])
def test_python_counter_matches_the_table(case: dict) -> None:
    """messaging/segments.py gives every row's encoding and segment count."""
    text = text_of(case)
    assert (encoding(text), segments(text)) == (case["encoding"], case["segments"])


def run_node() -> dict:
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        pytest.skip("node is not installed; the browser test runs the same table in Chromium")
    done = subprocess.run([node, str(SHARED / "check_segments.js")], capture_output=True, text=True, timeout=60,
                          check=True)
    return json.loads(done.stdout)


def test_javascript_counter_matches_the_table() -> None:
    """static/segments.js, run by node, gives every row's encoding and segment count too."""
    result = run_node()
    assert result["checked"] == len(CASES)
    assert result["failures"] == []


def test_javascript_uses_the_same_gsm_tables() -> None:
    """Its GSM-7 basic and extension tables are Python's, character for character."""
    result = run_node()
    assert set(result["basic"]) == set(GSM7_BASIC)
    assert set(result["extension"]) == set(GSM7_EXTENSION)
