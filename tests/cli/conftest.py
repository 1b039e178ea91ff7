"""Fixtures for the command line: run `rapidresponse ...` in-process against the test environment."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from rapidresponse.cli import main


@dataclass
class Result:
    code: int
    out: str
    err: str


Run = Callable[..., Result]


@pytest.fixture
def run(env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Run:
    """Runs the command with the test environment; returns its exit status and output."""
    for key, value in env.items():
        monkeypatch.setenv(key, value)

    def _run(*argv: str) -> Result:
        capsys.readouterr()
        try:
            code = main(list(argv))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return _run


@pytest.fixture
def csv_file(tmp_path: Path) -> Callable[[str], Path]:
    """Writes a CSV file from the given text and returns its path."""

    def _write(text: str, name: str = "members.csv") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return _write


def sqlite_bytes(database_url: str) -> bytes:
    """Everything SQLite has on disk for this database: the file and its write-ahead log."""
    path = Path(database_url.removeprefix("sqlite:///"))
    return b"".join(p.read_bytes() for p in sorted(path.parent.glob(path.name + "*")))
