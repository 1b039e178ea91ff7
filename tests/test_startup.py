"""Each process (web, worker, `db upgrade`) stops on a bad setting with one line naming it, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
ENTRY_POINTS = {
    "worker": ["-m", "workers.worker"],
    "web": ["-c", "import wsgi"],
    "db-upgrade": ["-m", "rapidresponse.cli", "db", "upgrade"],
}


def minimal_env(tmp_path: Path, **overrides: str | None) -> dict[str, str]:
    """What an operator might set: no inherited test settings, a throwaway database."""
    env: dict[str, str | None] = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "SECRET_KEY": "startup-test-secret-key-0123",
        "DATA_KEY": Fernet.generate_key().decode(),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'startup.sqlite3'}",
        "REDIS_URL": "redis://127.0.0.1:1/0",  # never reached: start-up must stop before connecting
    }
    env.update(overrides)
    return {key: value for key, value in env.items() if value is not None}


def start(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60, check=False)


BAD_SETTINGS = [
    ("DATA_KEY", {"DATA_KEY": None}),
    ("DATA_KEY", {"DATA_KEY": "garbage"}),
    ("PORT", {"PORT": "abc"}),
    ("SECRET_KEY", {"SECRET_KEY": None}),
    ("TREES_FILE", {"TREES_FILE": "/nonexistent/trees.toml"}),
    ("WORKER_NICE", {"WORKER_NICE": "20"}),
]


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize(
    ("name", "overrides"), BAD_SETTINGS,
    ids=["no-DATA_KEY", "garbage-DATA_KEY", "PORT-abc", "no-SECRET_KEY", "no-TREES_FILE", "WORKER_NICE-20"],
)
def test_bad_setting_is_one_line_naming_it(tmp_path, entry, name, overrides):
    """A bad setting makes the process exit non-zero with a single stderr line that names the variable."""
    result = start(ENTRY_POINTS[entry], minimal_env(tmp_path, **overrides))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"{name}:" in lines[0]
    assert result.stdout == ""
    if overrides.get("DATA_KEY"):
        assert overrides["DATA_KEY"] not in result.stderr  # a secret is never echoed back


BROKEN_TREES = "[trees.ice]\nkeywords = ['ICE']\n"  # a tree with no layers


@pytest.mark.parametrize("entry", [
    "worker",
    "web",
])
def test_malformed_trees_file_is_one_line_naming_it(tmp_path, entry):
    """A malformed trees file stops the web and the worker with one line naming TREES_FILE."""
    trees = tmp_path / "trees.toml"
    trees.write_text(BROKEN_TREES, encoding="utf-8")
    result = start(ENTRY_POINTS[entry], minimal_env(tmp_path, TREES_FILE=str(trees)))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "TREES_FILE:" in lines[0] and "layers" in lines[0]


@pytest.mark.parametrize("entry", ["worker", "web", "cli"])
def test_a_wrong_data_key_stops_every_process_with_one_line(tmp_path, entry):
    """A database made under one DATA_KEY stops web, worker and CLI started with another: one line naming it."""
    upgraded = start(ENTRY_POINTS["db-upgrade"], minimal_env(tmp_path))
    assert upgraded.returncode == 0, upgraded.stderr
    args = ["-m", "rapidresponse.cli", "members", "list"] if entry == "cli" else ENTRY_POINTS[entry]
    wrong = Fernet.generate_key().decode()
    result = start(args, minimal_env(tmp_path, DATA_KEY=wrong))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert "DATA_KEY:" in line and "key check" in line
    assert wrong not in result.stderr
    assert result.stdout == ""


def test_the_right_key_from_a_file_starts_the_web(tmp_path):
    """DATA_KEY_FILE with the key the database was made under: the web app loads."""
    key = Fernet.generate_key().decode()
    key_file = tmp_path / "data_key"
    key_file.write_text(key, encoding="ascii")
    assert start(ENTRY_POINTS["db-upgrade"], minimal_env(tmp_path, DATA_KEY=key)).returncode == 0
    result = start(ENTRY_POINTS["web"], minimal_env(tmp_path, DATA_KEY=None, DATA_KEY_FILE=str(key_file)))
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("entry", ["worker", "web"])
def test_provider_delete_off_is_said_at_start_up(tmp_path, entry):
    """With PROVIDER_DELETE=off, web and worker say at start-up that texts stay at the provider."""
    result = start(ENTRY_POINTS[entry], minimal_env(tmp_path, PROVIDER_DELETE="off"))
    assert "PROVIDER_DELETE=off: texts are NOT deleted at the provider" in result.stderr
