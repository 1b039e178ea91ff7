"""Bad settings or a bad trees file stop any command with one line, never a stack trace."""

from __future__ import annotations

import pytest


def test_missing_data_key_exits_2_naming_it(run, monkeypatch):
    """Without DATA_KEY the command prints one line naming it and exits 2."""
    monkeypatch.delenv("DATA_KEY")
    result = run("members", "list")
    assert result.code == 2
    assert result.err.strip().splitlines() == ["rapidresponse: DATA_KEY: is not set"]
    assert result.out == ""


def test_bad_trees_file_exits_2_with_one_line(run, monkeypatch, tmp_path):
    """A malformed TREES_FILE is one line naming it, exit 2."""
    trees = tmp_path / "trees.toml"
    trees.write_text("[trees.ice]\nkeywords = ['ICE']\n", encoding="utf-8")
    monkeypatch.setenv("TREES_FILE", str(trees))
    result = run("trees", "show")
    assert result.code == 2
    [line] = result.err.strip().splitlines()
    assert line.startswith("rapidresponse: TREES_FILE:") and "layers" in line


def test_database_without_tables_asks_for_db_upgrade(run):
    """A database that was never migrated is one line pointing at `db upgrade`, exit 1."""
    result = run("members", "list")
    assert result.code == 1
    [line] = result.err.strip().splitlines()
    assert "db upgrade" in line


@pytest.mark.parametrize("argv", [["members"], ["members", "frobnicate"], ["trees"]])
def test_incomplete_commands_show_usage(run, argv):
    """A missing or unknown subcommand is argparse's usage message and exit 2."""
    result = run(*argv)
    assert result.code == 2 and "usage:" in result.err
