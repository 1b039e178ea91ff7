"""The trees file: the shipped one loads as documented, a tree freezes onto an incident, and every
mistake in the file is refused with a message that says where it is."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rapidresponse.trees.model import Layer, Tree, TreeConfigError, load_trees, parse_trees

SHIPPED = Path(__file__).resolve().parents[2] / "config" / "trees.toml"

GOOD_LAYER = '[[trees.ice.layers]]\nname = "verifiers"\nverifies = true\nquorum = 1\nwait_seconds = 180\n'
GOOD_ICE = '[trees.ice]\nkeywords = ["ICE", "MIGRA"]\n' + GOOD_LAYER


# --- the shipped file ------------------------------------------------------------------------------

def test_shipped_trees_file_loads():
    """config/trees.toml has the ice, copwatch and eviction trees, and a bare REPORT goes to ice."""
    trees = load_trees(SHIPPED)
    assert set(trees.trees) == {"ice", "copwatch", "eviction"}
    assert trees.default_tree == "ice"
    assert trees.get(None).name == "ice"
    assert trees.report_words == {
        "ICE": "ice", "MIGRA": "ice", "REDADA": "ice", "COPWATCH": "copwatch", "POLICIA": "copwatch",
        "EVICTION": "eviction", "DESALOJO": "eviction",
    }


def test_shipped_ice_tree_verifies_first():
    """ICE alerts: one verifier must confirm (3 minutes), then 3 responders are wanted within 5 minutes."""
    ice = load_trees(SHIPPED).get("ice")
    assert ice.layers == (
        Layer(number=1, name="verifiers", quorum=1, wait_seconds=180.0, verifies=True,
              next_waits_for_confirmation=True, zone_first=True),
        Layer(number=2, name="rapid responders", quorum=3, wait_seconds=300.0, zone_first=True),
        Layer(number=3, name="supporters", quorum=10, wait_seconds=600.0),
    )
    assert ice.verifier_layers == frozenset({1})


@pytest.mark.parametrize(("tree", "layers"), [
    ("copwatch", [("verifiers", 1, 120.0, True), ("rapid responders", 3, 300.0, False),
                  ("supporters", 10, 600.0, False)]),
    ("eviction", [("defenders", 10, 900.0, False), ("supporters", 30, 1800.0, False)]),
])
def test_shipped_other_trees(tree, layers):
    """Copwatch verifies first like ICE; eviction defence calls its defenders, then 30 supporters."""
    got = load_trees(SHIPPED).get(tree)
    assert [(x.name, x.quorum, x.wait_seconds, x.verifies) for x in got.layers] == layers
    assert [x.number for x in got.layers] == list(range(1, len(layers) + 1))


def test_defaults_for_a_minimal_layer():
    """A layer with only a name wants one YES within five minutes, and verifies nothing."""
    tree = parse_trees({"trees": {"t": {"layers": [{"name": "all"}]}}}).get("t")
    assert tree.layers == (Layer(number=1, name="all", quorum=1, wait_seconds=300.0),)
    assert tree.keywords == ()


def test_keywords_are_upper_case_and_trimmed():
    """Keywords match whatever case people text them in."""
    trees = parse_trees({"trees": {"t": {"keywords": [" migra ", "Redada"], "layers": [{}]}}})
    assert trees.get("t").keywords == ("MIGRA", "REDADA")


# --- freeze / thaw ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["ice", "copwatch", "eviction"])
def test_freeze_thaw_round_trip(name):
    """A tree frozen onto an incident (as JSON) comes back exactly as it was."""
    tree = load_trees(SHIPPED).get(name)
    frozen = json.loads(json.dumps(tree.freeze()))
    assert Tree.thaw(frozen) == tree


def test_frozen_tree_ignores_later_edits(tmp_path):
    """Editing the trees file after an incident opened does not change that incident's tree."""
    path = tmp_path / "trees.toml"
    path.write_text(GOOD_ICE, encoding="utf-8")
    frozen = load_trees(path).get("ice").freeze()
    path.write_text(GOOD_ICE.replace("quorum = 1", "quorum = 4"), encoding="utf-8")
    assert load_trees(path).get("ice").layers[0].quorum == 4
    assert Tree.thaw(frozen).layers[0].quorum == 1


# --- mistakes --------------------------------------------------------------------------------------

MISTAKES = [
    ("bad_toml", 'default_tree = "ice"\n[trees.ice\n', ["not valid TOML", "line 2"]),
    ("no_trees", 'default_tree = "ice"\n', ["[trees.NAME]"]),
    ("trees_not_a_table", 'trees = ["ice"]\n', ["[trees.NAME]"]),
    ("no_layers", '[trees.ice]\nkeywords = ["ICE"]\n', ["trees.ice", "layers"]),
    ("empty_layers", '[trees.ice]\nlayers = []\n', ["trees.ice", "layers"]),
    ("layer_not_a_table", '[trees.ice]\nlayers = [1]\n', ["trees.ice.layers[1]", "table"]),
    ("tree_not_a_table", 'trees.ice = 3\n', ["trees.ice", "table"]),
    ("bad_tree_name", GOOD_ICE.replace("trees.ice", "trees.ICE"), ["trees.ICE"]),
    ("quorum_0", GOOD_ICE + GOOD_LAYER.replace("quorum = 1", "quorum = 0"), ["trees.ice.layers[2].quorum"]),
    ("quorum_negative", GOOD_ICE.replace("quorum = 1", "quorum = -2"), ["trees.ice.layers[1].quorum"]),
    ("quorum_text", GOOD_ICE.replace("quorum = 1", 'quorum = "3"'), ["trees.ice.layers[1].quorum"]),
    ("quorum_fraction", GOOD_ICE.replace("quorum = 1", "quorum = 1.5"), ["trees.ice.layers[1].quorum"]),
    ("quorum_bool", GOOD_ICE.replace("quorum = 1", "quorum = true"), ["trees.ice.layers[1].quorum"]),
    ("wait_negative", GOOD_ICE.replace("wait_seconds = 180", "wait_seconds = -60"),
     ["trees.ice.layers[1].wait_seconds"]),
    ("wait_zero", GOOD_ICE.replace("wait_seconds = 180", "wait_seconds = 0"),
     ["trees.ice.layers[1].wait_seconds"]),
    ("wait_text", GOOD_ICE.replace("wait_seconds = 180", 'wait_seconds = "3m"'),
     ["trees.ice.layers[1].wait_seconds"]),
    ("flag_text", GOOD_ICE.replace("verifies = true", 'verifies = "yes"'), ["trees.ice.layers[1].verifies"]),
    ("unknown_layer_key", GOOD_ICE.replace("quorum = 1", "quorom = 1"), ["trees.ice.layers[1]", "quorom"]),
    ("keywords_not_a_list", GOOD_ICE.replace('["ICE", "MIGRA"]', '"ICE"'), ["trees.ice.keywords"]),
    ("blank_keyword", GOOD_ICE.replace('["ICE", "MIGRA"]', '["ICE", " "]'), ["trees.ice.keywords"]),
    ("duplicate_keyword", GOOD_ICE + GOOD_ICE.replace("trees.ice", "trees.copwatch").replace(
        '["ICE", "MIGRA"]', '["COPWATCH", "ice"]'), ["trees.copwatch.keywords", "ICE", "of ice"]),
    ("default_tree_unknown", 'default_tree = "raid"\n' + GOOD_ICE, ["default_tree", "raid"]),
    ("default_tree_not_text", "default_tree = 1\n" + GOOD_ICE, ["default_tree"]),
]


@pytest.mark.parametrize(("text", "places"), [m[1:] for m in MISTAKES], ids=[m[0] for m in MISTAKES])
def test_mistake_is_refused_naming_the_place(tmp_path, text, places):
    """A malformed trees file stops start-up with TreeConfigError naming the file and the setting."""
    path = tmp_path / "trees.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(TreeConfigError) as caught:
        load_trees(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    for place in places:
        assert place in message


def test_missing_file_is_a_tree_config_error(tmp_path):
    """A trees file that is not there is reported as such, by its path."""
    path = tmp_path / "nowhere.toml"
    with pytest.raises(TreeConfigError, match="cannot read"):
        load_trees(path)


def test_unknown_tree_key_is_refused(tmp_path):
    """A misspelt tree setting (keyword for keywords) is refused, not silently ignored."""
    path = tmp_path / "trees.toml"
    path.write_text(GOOD_ICE.replace("keywords =", "keyword ="), encoding="utf-8")
    with pytest.raises(TreeConfigError, match=r"trees\.ice.*keyword"):
        load_trees(path)


def test_unknown_top_level_key_is_refused(tmp_path):
    """A misspelt top-level setting (default-tree) is refused, not silently ignored."""
    path = tmp_path / "trees.toml"
    path.write_text('default-tree = "copwatch"\n' + GOOD_ICE, encoding="utf-8")
    with pytest.raises(TreeConfigError, match="default-tree"):
        load_trees(path)


def test_waiting_for_confirmation_needs_a_verifying_layer():
    """Only verifiers can confirm, so only their layer may hold the next one back."""
    from rapidresponse.trees.model import parse_trees

    with pytest.raises(TreeConfigError, match="next_waits_for_confirmation"):
        parse_trees({"trees": {"ice": {"layers": [{"quorum": 1, "next_waits_for_confirmation": True},
                                                  {"quorum": 2}]}}})


def test_shipped_trees_have_their_hotline_keys():
    """The shipped file offers 1 ice, 2 eviction, 3 copwatch on the hotline; silence goes to ice."""
    trees = load_trees(Path(__file__).resolve().parents[2] / "config" / "trees.toml")
    assert trees.voice_keys == {"1": "ice", "2": "eviction", "3": "copwatch"}
    assert trees.hotline_tree.name == "ice"


@pytest.mark.parametrize(("raw", "expected"), [(1, "1"), ("0", "0"), (" 8 ", "8")])
def test_voice_key_accepts_one_keypad_key(raw, expected):
    """A voice_key is one key from 0 to 8, written as a number or a string."""
    trees = parse_trees({"trees": {"t": {"voice_key": raw, "layers": [{}]}}})
    assert trees.get("t").voice_key == expected


@pytest.mark.parametrize("raw", [9, "9", "*", "#", "12", "", True, 1.5, "x"])
def test_invalid_voice_key_fails_naming_itself(raw):
    """9 (language), * (repeat), # and anything not one key 0-8 stop start-up, naming the setting."""
    with pytest.raises(TreeConfigError, match=r"trees\.t\.voice_key"):
        parse_trees({"trees": {"t": {"voice_key": raw, "layers": [{}]}}})


def test_duplicate_voice_key_fails_naming_both_trees():
    """Two trees on one key stop start-up, naming the key and both trees."""
    with pytest.raises(TreeConfigError, match=r"trees\.b\.voice_key: 1 is also the voice_key of a"):
        parse_trees({"trees": {"a": {"voice_key": "1", "layers": [{}]}, "b": {"voice_key": 1, "layers": [{}]}}})


def test_hotline_default_tree_must_be_a_tree():
    """hotline_default_tree names an existing tree (default: default_tree)."""
    with pytest.raises(TreeConfigError, match="hotline_default_tree"):
        parse_trees({"hotline_default_tree": "nope", "trees": {"t": {"layers": [{}]}}})
    assert parse_trees({"trees": {"t": {"layers": [{}]}, "u": {"layers": [{}]}}, "default_tree": "u"}
                       ).hotline_tree.name == "u"
